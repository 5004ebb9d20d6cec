"""ADVERSARIAL: a method module whose import itself attacks (module-level code runs before any method call)."""

import contextlib
import subprocess

from tests.adversarial.plugins import _vanilla
from transfer.methods.base import Method

with contextlib.suppress(Exception):  # swallowed: the harness must still see it
    subprocess.run(["/bin/true"], check=False)


class AttacksAtImport(Method):
    def fit(self, view):
        return _vanilla(view)
