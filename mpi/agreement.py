"""Every rank of an MPI job reaches the same verdict on the command before any work.

Each rank checks its own command line, files and directories (a node may lack a file the others
have: ``--resume``, ``--init-from`` or ``--data-dir`` on a local disk). ``agree`` gathers every
rank's refusal (or None) and its settings with one ``allgather``: if any rank refuses, every
rank learns it and the whole job ends at once with the same exit status (no rank is left
waiting in a collective for one that has gone); if the ranks were given different settings,
that is a refusal too, naming the first setting that differs. Settings that may rightly differ
per node (paths to the same data, the device: the caller's ``per_node``) are not compared.
"""

from __future__ import annotations

from typing import Any


def agree(
    comm,
    refusal: str | None,
    settings: dict[str, Any] | None = None,
    per_node: frozenset[str] = frozenset(),
    program: str = "",
) -> str | None:
    """The job's refusal, one or more lines each naming its rank(s), or None to go on.
    ``program`` names the command in the refusal of differing settings."""
    if comm.size == 1:
        return refusal
    verdicts = comm.allgather((refusal, settings))
    refusals: dict[str, list[int]] = {}
    for rank, (message, _) in enumerate(verdicts):
        if message:
            refusals.setdefault(message, []).append(rank)
    if refusals:
        lines = []
        for message, ranks in refusals.items():
            if len(ranks) == comm.size:
                lines.append(message)
            else:
                where = ", ".join(map(str, ranks))
                head, sep, tail = message.partition(": error: ")
                label = f"rank {where}" if len(ranks) == 1 else f"ranks {where}"
                lines.append(f"{head}{sep}{label}: {tail}" if sep else f"{label}: {message}")
        return "\n".join(lines)
    first = verdicts[0][1] or {}
    for rank, (_, other) in enumerate(verdicts[1:], start=1):
        other = other or {}
        for key in sorted(set(first) | set(other)):
            if key in per_node or first.get(key) == other.get(key):
                continue
            option = "--" + key.replace("_", "-")
            return (
                f"{program}: error: the ranks were given different settings: {option} is "
                f"{first.get(key)!r} on rank 0 and {other.get(key)!r} on rank {rank}; run the "
                "same command on every rank"
            )
    return None
