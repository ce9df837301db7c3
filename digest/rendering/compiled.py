"""Templates compiled once a process, however many Jinja2 environments load them.

Jinja2 caches a compiled template in its environment only, and an environment is
made per ``Renderer`` (so per ``Dispatcher``: the scheduler makes one for each
edition it sends) and per web app: each compiled every template again, 20-30 ms a
template, 0.1-0.2 s an edition. A ``CompiledTemplates`` keeps the code objects for
the process, by file and by a checksum of the source (Jinja2's ``BytecodeCache``
protocol), so an edited template is compiled again and an unchanged one never is.

The code depends on the environment's options (autoescape, trim_blocks, ...):
each kind of environment has a cache of its own.
"""

from __future__ import annotations

from types import CodeType

import jinja2
from jinja2.bccache import Bucket


class CompiledTemplates(jinja2.BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[tuple[str, str], CodeType] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[(bucket.key, bucket.checksum)] = bucket.code

    def clear(self) -> None:
        self._code.clear()
