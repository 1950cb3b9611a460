"""Generated bad ``--config`` files of ``sampler train``: not a table, not UTF-8, invalid TOML or
JSON, unknown keys and tables, values of the wrong type, and paths that are no file."""

from __future__ import annotations

from tests.helpers.bad_case import HUGE, MIXTURE, RUN, Case, without_flag, write_file

CONFIG_FILES = {
    "list.json": "[1, 2]",
    "null.json": "null",
    "string.json": '"steps"',
    "broken.json": '{"steps": ',
    "latin1.toml": b"steps = 2\nmodel = '\xe9'\n",
    "latin1.json": b'{"model": "\xe9"}',
    "broken.toml": "steps = \n",
    "unknown.toml": "sampels = 10\n",
    "steps-text.toml": 'steps = "x"\n',
    "steps-float.toml": "steps = 1.5\n",
    "steps-bool.toml": "steps = true\n",
    "steps-huge.toml": f"steps = {HUGE[:19]}\n",
    "quiet-text.toml": 'quiet = "yes"\n',
    "model-options-number.toml": "model_options = 3\n",
    "data-options-list.toml": "data_options = [1]\n",
    "method-options-text.toml": 'method_options = "x"\n',
    "tau-list.toml": "tau = [1, 2]\n",
    "samples-negative.toml": "samples = -5\n",
    "estimator-number.toml": "estimator = 3\n",
    "model-unknown.toml": 'model = "nope"\n',
    "unknown-table.toml": "[foo]\nbar = 1\n",
    "both-methods.toml": 'estimator = "is"\nbaseline = "sgd"\n',
    "method-option-unknown.toml": "[method_options]\nsampels = 3\n",
    "model-option-unknown.toml": "[model_options]\nnope = 3\n",
    "empty.json": "",
}
CONFIG_NAMES = {"steps-huge.toml": "--steps", "tau-list.toml": "--tau"}


def config_file_cases() -> list[Case]:
    cases = []
    run = without_flag(RUN, "steps")  # the file's steps is what some cases spoil
    for name, content in CONFIG_FILES.items():
        cases.append(
            Case(
                (*MIXTURE, *run, "--config", f"{{dir}}/{name}"),
                CONFIG_NAMES.get(name, name),
                write_file(name, content),
                label=f"--config {name}",
            )
        )
    cases.append(Case((*MIXTURE, *RUN, "--config", "/nonexistent/run.toml"), "/nonexistent"))
    cases.append(Case((*MIXTURE, *RUN, "--config", "{dir}"), "--config"))
    return cases
