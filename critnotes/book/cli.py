"""Command line: ``python -m critnotes reproduce <chapter|all> --profile … --device … --out DIR``.

Other commands: ``list`` (chapters and profiles), ``data NAME`` (download a torchvision dataset
into the cache when online; ``data mnist --from PATH`` imports the full MNIST offline from the four IDX
files or an ``.npz``), ``ledger [--results DIR]`` (print the reproduction ledger as Markdown).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from critnotes.book.profiles import PROFILE_ENV, PROFILE_HELP, PROFILE_NAMES, get_profile
from critnotes.book.results import claims_markdown, load_results, results_dir
from critnotes.training.device import DEVICE_ENV


class InputError(ValueError):
    """Bad command-line input or environment, found before any compute (exit code 2)."""


def _check_out(raw: str) -> Path:
    """``--out`` as a folder that exists and is writable, or can be created; nothing is created here."""
    if not raw.strip():
        raise InputError("--out is empty; give a folder for the <chapter>.json results")
    out = Path(raw).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {raw!r} is an existing file, not a folder; give a folder for the results")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {raw!r} cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        what = "is not writable" if parent == out else f"cannot be created: {parent} is not writable"
        raise InputError(f"--out {raw!r} {what}; choose a folder you can write to")
    return out


def _check_reproduce_inputs(args) -> tuple[list[str], str, str, Path]:
    """Chapters, profile, device and output folder of ``reproduce``, every input checked before compute."""
    from critnotes.book.chapters import CHAPTERS, available, has_profile
    from critnotes.book.results import STORED
    from critnotes.training.device import resolve_device
    from critnotes.training.loop import progress_mode
    from critnotes.training.sweeps import default_jobs

    if args.chapter != "all" and args.chapter not in CHAPTERS:
        raise InputError(f"unknown chapter {args.chapter!r}; choose one of: {', '.join(CHAPTERS)}, all")
    try:
        profile = get_profile(args.profile)
        device = str(resolve_device(args.device))
        default_jobs()
        progress_mode()
        if args.chapter != "all" and not has_profile(args.chapter, profile):
            with_it = [c for c in available() if has_profile(c, profile)]
            raise InputError(f"chapter {args.chapter!r} has no {profile!r} variant (its 'paper' run needs no "
                             f"shortening); use --profile paper" + (f", or a chapter that has one: {', '.join(with_it)}"
                                                                  if with_it else ""))
    except (ValueError, NotImplementedError) as exc:
        raise InputError(str(exc)) from None
    ids = [c for c in available() if has_profile(c, profile)] if args.chapter == "all" else [args.chapter]
    if not ids:
        raise InputError(f"no chapter has a {profile!r} variant yet")
    skipped = [c for c in available() if c not in ids] if args.chapter == "all" else []
    if skipped:
        print(f"[critnotes] no {profile!r} variant (skipped): {', '.join(skipped)}", file=sys.stderr)
    out = _check_out(args.out)
    if out.resolve().parent == STORED.resolve() and out.name != profile:
        raise InputError(f"--out {args.out!r} holds the stored {out.name!r} results but --profile is {profile!r}; "
                         f"use --out {STORED / profile}")
    return ids, profile, device, out


def _reproduce(args) -> int:
    from critnotes.book.chapters import reproduce

    try:
        ids, profile, device, out = _check_reproduce_inputs(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ[PROFILE_ENV] = profile
    failed = []
    for cid in ids:
        t0 = time.perf_counter()
        print(f"[critnotes] reproducing {cid} (profile {profile}, device {device}) …", file=sys.stderr)
        try:
            res = reproduce(cid, profile=profile, device=device, progress=not args.quiet)
        except Exception:
            traceback.print_exc()
            print(f"[critnotes] {cid}: failed (traceback above)", file=sys.stderr)
            failed.append(cid)
            continue
        try:
            path = res.save(out)
        except Exception:
            traceback.print_exc()
            print(f"[critnotes] {cid}: could not save to {out}; its claims follow on stdout", file=sys.stderr)
            print(claims_markdown([res]))
            failed.append(cid)
            continue
        n_ok = sum(c.agrees is True for c in res.claims)
        print(f"[critnotes] {cid}: {len(res.claims)} claims ({n_ok} agree) in {time.perf_counter() - t0:.0f} s "
              f"→ {path}", file=sys.stderr)
    if failed:
        print(f"[critnotes] {len(failed)} of {len(ids)} chapter(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _list(args) -> int:
    from critnotes.book.chapters import CHAPTERS, available

    have = set(available())
    for cid in CHAPTERS:
        print(f"{cid:28s} {'ready' if cid in have else 'not yet written'}")
    print("\nprofiles (set $CRITNOTES_PROFILE or --profile):")
    for p in PROFILE_NAMES:
        print(f"  {p:9s} {PROFILE_HELP[p]}")
    return 0


def _data(args) -> int:
    from critnotes.training.data import DataUnavailableError, import_mnist, load_dataset

    try:
        if args.source is not None:
            if args.name != "mnist":
                raise ValueError(f"--from imports only the full MNIST; {args.name!r} loads through torchvision "
                                 f"(`python -m critnotes data {args.name}` on a machine with internet)")
            print(f"imported {args.source} → {import_mnist(args.source)}")
        d = load_dataset(args.name, download=args.source is None)
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
    p.add_argument("--profile", choices=PROFILE_NAMES, help=f"default: ${PROFILE_ENV}, else quick")
    p.add_argument("--device", help=f"auto (CUDA when present), cpu, cuda, cuda:N or mps (default: ${DEVICE_ENV}, "
                                    "else auto)")
    p.add_argument("--out", default=str(results_dir()), help="folder for <chapter>.json (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_reproduce)
    sub.add_parser("list", help="chapters and profiles").set_defaults(func=_list)
    p = sub.add_parser("data", help="download a torchvision dataset into $CRITNOTES_DATA (needs internet), or "
                                    "import the full MNIST offline with --from")
    p.add_argument("name", choices=["mnist", "fashion-mnist", "cifar10"])
    p.add_argument("--from", dest="source", metavar="PATH",
                   help="mnist only: a folder with the four IDX files (train-images-idx3-ubyte, …, optionally .gz) "
                        "or an .npz with x_train, y_train, x_test, y_test; checked, then copied into $CRITNOTES_DATA")
    p.set_defaults(func=_data)
    p = sub.add_parser("ledger", help="print the reproduction ledger (Markdown) from chapter results")
    p.add_argument("--results", help="folder of <chapter>.json files (default: $CRITNOTES_RESULTS)")
    p.set_defaults(func=_ledger)
    args = parser.parse_args(argv)
    return args.func(args)
