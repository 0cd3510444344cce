"""`make bench`: run every benchmark in turn; each prints its table and writes JSON to benchmarks/results/."""

from __future__ import annotations

from benchmarks import cli, features, generate, serving, targets, training

BENCHMARKS = {
    "cli": cli.main,
    "generate": generate.main,
    "features": features.main,
    "training": training.main,
    "targets": targets.main,
    "serving": serving.main,
}


def main() -> None:
    for name, run in BENCHMARKS.items():
        print(f"== benchmark: {name} ==")
        run([])


if __name__ == "__main__":
    main()
