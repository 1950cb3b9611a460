"""Generated bad invocations of ``sampler train`` for the reliability suite.

Every case is bad by construction, and the command must refuse it: a non-zero exit, one line
(``sampler...: error: ...``) that names the input (``Case.names``: a flag, an option or a file),
no traceback, within a time bound. The cases cover every run-level flag, every option of every
method, model and data set, ``--config`` files, and every file of a run directory (``--resume``,
``--init-from``, ``--out``). Values that an option's own declared check would accept are left
out of the generated ranges (``Option.parse`` decides), so a generated case is never a valid
setting; the hand-written cases add what only the run can know (sizes against memory, settings
that would be ignored, files that are corrupt).

A case's ``argv`` follows ``sampler train``; ``{dir}`` in it is replaced by the case's own
directory, which ``setup`` (if any) fills first (``tests.helpers.bad_case``). The cases of
spoiled files (run directories, data directories) are in ``tests.helpers.bad_files``.
"""

from __future__ import annotations

from tests.helpers.bad_case import Case
from tests.helpers.bad_config_files import config_file_cases
from tests.helpers.bad_flags import hand_written_cases, run_level_cases
from tests.helpers.bad_options import data_option_cases, method_option_cases, model_option_cases


def all_cases() -> list[Case]:
    """The cases of this module; ``tests.bad_files`` adds those of spoiled files."""
    return (
        run_level_cases()
        + method_option_cases()
        + model_option_cases()
        + data_option_cases()
        + config_file_cases()
        + hand_written_cases()
    )
