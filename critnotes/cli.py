"""Command line: ``python -m critnotes reproduce <chapter|all> --profile … --device … --out DIR``.

Other commands: ``list`` (chapters and profiles), ``data NAME`` (download a torchvision dataset
into the cache when online), ``ledger [--results DIR]`` (print the reproduction ledger as Markdown).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .config import PROFILE_ENV, PROFILE_HELP, PROFILE_NAMES, ConfigError
from .results import claims_markdown, load_results, results_dir


def _reproduce(args) -> int:
    from .chapters import CHAPTERS, available, reproduce

    os.environ[PROFILE_ENV] = args.profile
    ids = available() if args.chapter == "all" else [args.chapter]
    if args.chapter != "all" and args.chapter not in CHAPTERS:
        print(f"error: unknown chapter {args.chapter!r}; choose one of: {', '.join(CHAPTERS)}, all", file=sys.stderr)
        return 2
    out = Path(args.out)
    failed = []
    for cid in ids:
        t0 = time.perf_counter()
        print(f"[critnotes] reproducing {cid} (profile {args.profile}, device {args.device}) …", file=sys.stderr)
        try:
            res = reproduce(cid, profile=args.profile, device=args.device, progress=not args.quiet)
        except (NotImplementedError, ConfigError, ValueError, RuntimeError) as exc:
            if args.chapter != "all":
                print(f"error: {exc}", file=sys.stderr)
                return 2
            traceback.print_exc()
            failed.append(cid)
            continue
        path = res.save(out)
        n_ok = sum(c.agrees is True for c in res.claims)
        print(f"[critnotes] {cid}: {len(res.claims)} claims ({n_ok} agree) in {time.perf_counter() - t0:.0f} s "
              f"→ {path}", file=sys.stderr)
    if failed:
        print(f"[critnotes] failed chapters: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _list(args) -> int:
    from .chapters import CHAPTERS, available

    have = set(available())
    for cid in CHAPTERS:
        print(f"{cid:28s} {'ready' if cid in have else 'not yet written'}")
    print("\nprofiles (set $CRITNOTES_PROFILE or --profile):")
    for p in PROFILE_NAMES:
        print(f"  {p:6s} {PROFILE_HELP[p]}")
    return 0


def _data(args) -> int:
    from .data import DataUnavailableError, load_dataset

    try:
        d = load_dataset(args.name, download=True)
    except (DataUnavailableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{d.name}: {len(d.y_train)} train / {len(d.y_test)} test — {d.description}")
    return 0


def _ledger(args) -> int:
    folder = Path(args.results) if args.results else results_dir()
    results = load_results(folder)
    if not results:
        print(f"error: no chapter results in {folder}; run `python -m critnotes reproduce all --out {folder}`",
              file=sys.stderr)
        return 2
    print(claims_markdown(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m critnotes", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="run a chapter's experiments headless and write <out>/<chapter>.json")
    p.add_argument("chapter", help="chapter id or 'all'")
    p.add_argument("--profile", default=os.environ.get(PROFILE_ENV, "quick"), choices=PROFILE_NAMES)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when present)")
    p.add_argument("--out", default=str(results_dir()), help="folder for <chapter>.json (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_reproduce)
    sub.add_parser("list", help="chapters and profiles").set_defaults(func=_list)
    p = sub.add_parser("data", help="download a torchvision dataset into the cache (needs internet)")
    p.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"])
    p.set_defaults(func=_data)
    p = sub.add_parser("ledger", help="print the reproduction ledger (Markdown) from chapter results")
    p.add_argument("--results", help="folder of <chapter>.json files (default: $CRITNOTES_RESULTS)")
    p.set_defaults(func=_ledger)
    args = parser.parse_args(argv)
    return args.func(args)
