"""`python -m bench` (`make bench`): every benchmark, each printing gridmap beside a peer on the same data."""

from __future__ import annotations

import sys

from bench import bench_io


def main() -> None:
    args = sys.argv[1:]
    bench_io.main(args)


if __name__ == "__main__":
    main()
