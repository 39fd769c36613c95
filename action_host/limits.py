"""Resource limits a host applies to itself before any action code runs."""

from __future__ import annotations

import resource

#: Names the executor uses -> resource module constants.
LIMITS = {
    "address_space": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "open_files": resource.RLIMIT_NOFILE,
    "file_size": resource.RLIMIT_FSIZE,
    "processes": resource.RLIMIT_NPROC,
}


def apply(limits: dict[str, int]) -> None:
    """Lower soft and hard limits; a limit above the current hard one stays as it is."""
    for name, value in limits.items():
        which = LIMITS[name]
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and value > hard:
            value = hard
        resource.setrlimit(which, (value, value))
