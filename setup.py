"""Build hook only (everything else is in pyproject.toml): ship docs/methods*.md in the package.

The methods page of every report renders docs/methods.md and the notes it links to. docs/ is
their one source of truth (the README and GitHub link there); at build time they are copied to
eventstudy/report/ inside the wheel, where `report.methods_doc.find_methods` looks in an
installed copy. An editable install reads docs/ directly.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DOCS = ("methods.md", "methods-tests.md", "methods-hypotheses.md", "second-stage.md")


class BuildWithDocs(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "eventstudy" / "report"
        target.mkdir(parents=True, exist_ok=True)
        for name in DOCS:
            self.copy_file(str(Path("docs") / name), str(target / name))


setup(cmdclass={"build_py": BuildWithDocs})
