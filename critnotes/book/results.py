"""The results contract: claims measured by a chapter, compared with the paper's values.

Every chapter's ``reproduce()`` returns a :class:`ChapterResult`; the CLI writes it as
``<out>/<chapter>.json``, the chapter's "Does it reproduce?" box renders it, and the reproduction
ledger gathers all of them.  ``measured`` is always computed by the run; each claim's ``kind`` and
``verdict`` follow :mod:`critnotes.book.verdicts` (``agrees`` is derived from the verdict).
"""
from __future__ import annotations

import dataclasses
import datetime
import html
import json
import os
import platform
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any, Iterable

from critnotes.analysis.records import jsonable
from critnotes.book.profiles import PAPER_SCALE
from critnotes.book.verdicts import KINDS, VERDICTS, judge
from critnotes.training.cache import atomic_write_text, cache_dir

RESULTS_ENV = "CRITNOTES_RESULTS"
_REPO = Path(__file__).resolve().parents[2]
#: the committed results: ``book/results/<profile>/<chapter>.json``, each with provenance (machine output)
STORED = _REPO / "book" / "results"


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where and from what a chapter result was computed (stored results under ``book/results/`` need it).

    ``commit``: the git commit of the critnotes checkout (``None`` outside a git checkout), ``dirty``: whether
    tracked files differed from it; ``date``: ISO 8601 UTC; ``datasets``: the data sets the run's trainings
    used; ``rules``: SHA-256 prefix of the verdict rules and the chapter module that judged the claims;
    ``torch``; ``cpu`` and ``cpu_count`` (cores this process could use); ``gpu`` (its name, else ``None``).
    """

    commit: str | None
    dirty: bool | None
    date: str
    datasets: list[str]
    rules: str
    torch: str
    cpu: str
    cpu_count: int
    gpu: str | None = None

    FIELDS = {"commit": (str, type(None)), "dirty": (bool, type(None)), "date": str, "datasets": list, "rules": str,
              "torch": str, "cpu": str, "cpu_count": int, "gpu": (str, type(None))}

    def __post_init__(self):
        if self.commit is not None and not re.fullmatch(r"[0-9a-f]{40}", self.commit):
            raise ValueError(f"provenance: commit must be a 40-digit hex git hash or null, got {self.commit!r}")
        try:
            datetime.datetime.fromisoformat(self.date.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"provenance: date must be ISO 8601 (e.g. 2026-01-31T12:00:00Z), got {self.date!r}") \
                from None
        if not all(isinstance(d, str) for d in self.datasets):
            raise ValueError(f"provenance: datasets must be a list of data set names, got {self.datasets!r}")
        if self.cpu_count < 1:
            raise ValueError(f"provenance: cpu_count must be at least 1, got {self.cpu_count}")

    @classmethod
    def collect(cls, device: str, code: Iterable[Any] = ()) -> "Provenance":
        """The provenance of a result computed now in this process on ``device``: git state, date, the data
        sets used so far (:func:`critnotes.training.data.datasets_used`), a fingerprint of the verdict rules
        and ``code`` (the chapter module), versions and the machine."""
        import torch

        from critnotes.training.data import datasets_used

        commit, dirty = _git_state()
        gpu = torch.cuda.get_device_name() if str(device).startswith("cuda") and torch.cuda.is_available() else None
        return cls(commit=commit, dirty=dirty,
                   date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   datasets=datasets_used(), rules=rules_fingerprint(code), torch=torch.__version__,
                   cpu=_cpu_name(), cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else (os.cpu_count() or 1), gpu=gpu)

    @classmethod
    def from_dict(cls, d: Any) -> "Provenance":
        _check_fields(d, "provenance", cls.FIELDS, optional=("gpu",))
        return cls(**d)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def rules_fingerprint(code: Iterable[Any]) -> str:
    """SHA-256 prefix of the source of the verdict rules and ``code`` (a chapter's module): what judged a result.
    A stored result whose :attr:`Provenance.rules` differs from today's was judged by other rules (stale)."""
    from critnotes.book import verdicts
    from critnotes.training.cache import code_fingerprint

    return code_fingerprint([verdicts, *code])[:16]


def _git_state() -> tuple[str | None, bool | None]:
    """(HEAD commit, tracked files modified) of the checkout holding this package; ``(None, None)`` without git."""
    try:
        head = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def _cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@dataclasses.dataclass
class Claim:
    """One checkable statement and what our run measured, with its kind and verdict
    (:mod:`critnotes.book.verdicts`).

    Build reproductions and checks with :meth:`judged` so the verdict comes from a registered rule;
    a ``finding`` (our own observation) has no paper value and no verdict.
    """

    id: str                      # "<chapter>.<quantity>.<setting>", e.g. "updates.alpha.mlp_small.stage1"
    statement: str               # the statement in words (the paper's, or ours for a finding)
    paper: Any                   # the paper's value as the paper gives it ("3-5", 0.94); None for a finding
    measured: Any                # computed by this run (number, string or small dict)
    kind: str = "reproduction"   # "reproduction" | "check" | "finding"
    verdict: str | None = None   # one of verdicts.VERDICTS; None for a finding
    rule: str | None = None      # the registered rule that gave the verdict
    reason: str = ""             # the rule's reason, in words
    detail: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "finding":
            if self.verdict is not None or self.rule is not None:
                raise ValueError(f"claim {self.id}: a finding has no verdict or rule (it has no paper number)")
        elif self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")

    @classmethod
    def judged(cls, id: str, statement: str, paper: Any, measured: Any, rule: str, *, kind: str = "reproduction",
               detail: dict | None = None, **inputs) -> "Claim":
        """A claim whose verdict is the registered ``rule`` applied to ``inputs`` (kept in ``detail``)."""
        v = judge(rule, **inputs)
        return cls(id, statement, paper, measured, kind=kind, verdict=v.verdict, rule=rule, reason=v.reason,
                   detail={**(detail or {}), "rule_inputs": inputs})

    @property
    def agrees(self) -> bool | None:
        """``True`` / ``False`` for agrees / differs, else ``None`` (the results contract's field)."""
        return {"agrees": True, "differs": False}.get(self.verdict)

    def as_dict(self) -> dict:
        return jsonable({**dataclasses.asdict(self), "agrees": self.agrees})


@dataclasses.dataclass
class ChapterResult:
    chapter: str
    profile: str
    device: str
    seconds: float
    claims: list[Claim]
    provenance: Provenance | None = None     # optional in the contract; required for stored results
    differences: list[str] = dataclasses.field(default_factory=list)   # how this profile departs from the paper's
                                                                       # settings (``paper-cpu``: what was shortened)

    def as_dict(self) -> dict:
        out = {"chapter": self.chapter, "profile": self.profile, "device": self.device,
               "seconds": round(float(self.seconds), 2), "claims": [c.as_dict() for c in self.claims]}
        if self.provenance is not None:
            out["provenance"] = self.provenance.as_dict()
        if self.differences:
            out["differences"] = list(self.differences)
        return out

    @property
    def stale(self) -> bool | None:
        """Whether the claims were judged by other rules than today's (verdict rules or the chapter's code changed
        since): ``None`` without provenance."""
        if self.provenance is None:
            return None
        from critnotes.book.chapters import chapter_module

        return self.provenance.rules != rules_fingerprint([chapter_module(self.chapter)])

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)

    def save(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<out_dir>/<chapter>.json`` atomically (default: :func:`results_dir`)."""
        path = Path(out_dir or results_dir()) / f"{self.chapter}.json"
        atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def from_dict(cls, d: Any) -> "ChapterResult":
        """The result stored by :meth:`as_dict`; a ``ValueError`` naming the missing or malformed field."""
        from critnotes.book.chapters import CHAPTERS
        from critnotes.book.profiles import PROFILE_NAMES

        _check_fields(d, "chapter result", {"chapter": str, "profile": str, "device": str,
                                            "seconds": (int, float), "claims": list, "provenance": dict,
                                            "differences": list}, optional=("provenance", "differences"))
        if d["chapter"] not in CHAPTERS:
            raise ValueError(f"unknown chapter id {d['chapter']!r} in field 'chapter'; known: {', '.join(CHAPTERS)}")
        if d["profile"] not in PROFILE_NAMES:
            raise ValueError(f"unknown profile {d['profile']!r} in field 'profile'; known: {', '.join(PROFILE_NAMES)}")
        claims = []
        for i, c in enumerate(d["claims"]):
            _check_fields(c, f"claims[{i}]", {"id": str, "statement": str, "paper": object, "measured": object,
                                              "kind": str, "verdict": (str, type(None)), "rule": (str, type(None)),
                                              "reason": str, "agrees": (bool, type(None)), "detail": dict},
                          optional=("detail", "reason", "rule", "agrees"))
            fields = {k: v for k, v in c.items() if k != "agrees"}     # derived from the verdict
            claims.append(Claim(**fields))
        prov = Provenance.from_dict(d["provenance"]) if "provenance" in d else None
        diffs = d.get("differences", [])
        if not all(isinstance(x, str) for x in diffs):
            raise ValueError(f"field 'differences' must be a list of strings, got {diffs!r:.80}")
        return cls(d["chapter"], d["profile"], d["device"], d["seconds"], claims, prov, list(diffs))

    def _repr_html_(self) -> str:
        """The chapter's "Does it reproduce?" box; the stored paper-scale verdicts under each verdict when they
        exist (:func:`paper_scale_results`)."""
        e = html.escape
        try:
            scale = [] if self.profile in PAPER_SCALE else paper_scale_results(self.chapter)
            problem = ""
        except ValueError as exc:
            scale, problem = [], f"<p><small>stored paper-scale results not shown: {e(str(exc))}</small></p>"
        title = (f"Does it reproduce? — {e(self.chapter)} (profile <code>{e(self.profile)}</code>, {e(self.device)}, "
                 f"{self.seconds:.0f} s)")
        return claims_html(self.claims, title=title, others=scale) + problem


def _check_fields(d: Any, what: str, types: dict[str, Any], optional: tuple[str, ...] = ()) -> None:
    """Raise a ``ValueError`` unless ``d`` is a dict with exactly the keys of ``types``, of those types."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    missing = [k for k in types if k not in d and k not in optional]
    unknown = [k for k in d if k not in types]
    if missing or unknown:
        raise ValueError(f"{what}: " + "; ".join(
            ([f"missing field(s) {', '.join(map(repr, missing))}"] if missing else [])
            + ([f"unknown field(s) {', '.join(map(repr, unknown))}"] if unknown else [])))
    for k, t in types.items():
        if k in d and (not isinstance(d[k], t) or (isinstance(d[k], bool) and t == (int, float))):
            names = " or ".join(x.__name__ for x in (t if isinstance(t, tuple) else (t,)))
            raise ValueError(f"{what}: field {k!r} must be {names}, got {type(d[k]).__name__} {d[k]!r:.60}")


def results_dir() -> Path:
    """Where notebooks and the CLI leave chapter results for the ledger: ``$CRITNOTES_RESULTS``."""
    raw = os.environ.get(RESULTS_ENV)
    if raw:
        return Path(raw).expanduser()
    root = cache_dir() or Path.home() / ".cache" / "critnotes"
    return root / "results"


def stored_results(profile: str, root: str | os.PathLike | None = None) -> dict[str, ChapterResult]:
    """The committed results of ``profile`` (``<root>/<profile>/<chapter>.json``, default ``book/results``),
    by chapter id.  Machine output checked strictly: a file that is not a chapter result of this profile with
    provenance is a ``ValueError`` naming the file and the fix."""
    folder = Path(root or STORED) / profile
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            res = parse_result(path)
        except ValueError as exc:
            raise ValueError(f"stored result {path} is not a valid chapter result: {exc}; regenerate it with "
                             f"`python -m critnotes reproduce {path.stem} --profile {profile} --out {folder}`") from None
        problem = (f"its profile is {res.profile!r}, not {profile!r}" if res.profile != profile else
                   f"it is named {path.name}, not {res.chapter}.json" if path.stem != res.chapter else
                   "it has no provenance (commit, date, device)" if res.provenance is None else None)
        if problem:
            raise ValueError(f"stored result {path}: {problem}; regenerate it with `python -m critnotes reproduce "
                             f"{path.stem} --profile {profile} --out {folder}`")
        out[res.chapter] = res
    return out


def stored_problems(root: str | os.PathLike | None = None) -> list[str]:
    """What is wrong with the committed results under ``root`` (default ``book/results``), one line each: a file that
    is not a valid chapter result of its folder's profile with provenance, a result made from uncommitted changes,
    or one naming a commit absent from this checkout's history.  (A result judged by older rules is not a problem:
    the ledger and the chapter boxes mark it stale.)"""
    root = Path(root or STORED)
    problems = []
    for folder in sorted(f for f in root.iterdir() if f.is_dir()) if root.is_dir() else []:
        try:
            stored = stored_results(folder.name, root)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for cid, res in stored.items():
            p, where = res.provenance, f"{folder / cid}.json"
            if p.commit is None or p.dirty is not False:
                problems.append(f"{where}: made from {'no git checkout' if p.commit is None else 'uncommitted changes'}"
                                f"; rerun it from a clean checkout")
            elif subprocess.run(["git", "-C", str(_REPO), "cat-file", "-e", f"{p.commit}^{{commit}}"],
                                capture_output=True).returncode != 0:
                problems.append(f"{where}: commit {p.commit} is not in this checkout's history")
    return problems


def paper_scale_results(chapter: str, root: str | os.PathLike | None = None) -> list[ChapterResult]:
    """The stored paper-scale results of ``chapter`` (``paper``, then ``paper-cpu``), the ones that exist."""
    return [r for p in PAPER_SCALE[::-1] if (r := stored_results(p, root).get(chapter)) is not None]


def parse_result(path: str | os.PathLike) -> ChapterResult:
    """The chapter result stored in ``path``; a ``ValueError`` saying why not: unreadable, invalid JSON,
    or not a chapter result (:meth:`ChapterResult.from_dict` names the field)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable ({exc})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc})") from None
    try:
        return ChapterResult.from_dict(d)
    except ValueError as exc:
        raise ValueError(f"not a chapter result ({exc})") from None


def read_result(path: str | os.PathLike) -> ChapterResult | None:
    """:func:`parse_result`, or ``None`` with a warning naming the file and why (the ledger skips such files)."""
    try:
        return parse_result(path)
    except ValueError as exc:
        warnings.warn(f"skipping {path}: {exc}", stacklevel=2)
        return None


def load_results(folder: str | os.PathLike | None = None) -> list[ChapterResult]:
    """All ``*.json`` chapter results in ``folder`` (default :func:`results_dir`); others skipped with a warning."""
    folder = Path(folder or results_dir())
    return [r for r in map(read_result, sorted(folder.glob("*.json"))) if r is not None]


def format_value(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={format_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


#: how each verdict is shown: label, colour (a finding has no verdict)
VERDICT_STYLE = {"agrees": ("✔ agrees", "#1a7f37"), "differs": ("✘ differs", "#cf222e"),
                 "inconclusive": ("? inconclusive", "#9a6700"), "not measured": ("– not measured", "#6e7781"),
                 None: ("finding", "#6e7781")}


def scale_label(res: ChapterResult) -> str:
    """Where a stored result comes from, in one line: profile, device, commit, date, wall time; "stale" when its
    claims were judged by other rules than today's."""
    p = res.provenance
    where = f"{res.device}" + (f", commit {p.commit[:7]}{'+' if p.dirty else ''}" if p and p.commit else "") + \
        (f", {p.date[:10]}" if p else "")
    return f"{res.profile} ({where}, {res.seconds / 60:.0f} min)" + (" — STALE: judged by older rules" if res.stale
                                                                      else "")


def _verdict_html(c: Claim | None, label: str = "") -> str:
    e = html.escape
    if c is None:
        return f"<small>{e(label)}: no such claim</small>" if label else ""
    verdict, colour = VERDICT_STYLE[c.verdict]
    head = f"<small>{e(label)}:</small> " if label else ""
    reason = f"<br><small>{e(c.reason)}</small>" if c.reason else ""
    measured = f" <small>(measured {e(format_value(c.measured))})</small>" if label else ""
    return f"{head}<span style='color:{colour}'>{verdict}</span>{measured}{reason}"


def scale_columns(others: Iterable[ChapterResult]) -> list[tuple[str, dict[str, Claim]]]:
    """Per stored result shown under a chapter's verdicts: its label (profile, "(stale)" when judged by older
    rules; the fingerprint is computed once here) and its claims by id."""
    return [(o.profile + (" (stale)" if o.stale else ""), {c.id: c for c in o.claims}) for o in others]


def claim_row_html(c: Claim, before: tuple[str, ...] = (), after: tuple[str, ...] = (),
                   others: Iterable[tuple[str, Claim | None]] = ()) -> str:
    """One table row: [before…] claim, paper, measured, verdict [after…]; ``others``: (label, the same claim at
    another scale) shown under the verdict.  Every text is HTML-escaped."""
    e = html.escape
    verdict = "".join([_verdict_html(c)] + [f"<hr style='margin:2px 0'>{_verdict_html(o, lab)}" for lab, o in others])
    cells = [*map(e, before), f"<code>{e(c.id)}</code><br><small>{e(c.statement)}</small>", e(c.kind),
             e(format_value(c.paper)), f"<b>{e(format_value(c.measured))}</b>", verdict, *map(e, after)]
    return "<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"


def claims_html(claims: Iterable[Claim], title: str = "Does it reproduce?",
                others: Iterable[ChapterResult] = ()) -> str:
    """An HTML table: claim, paper's value, measured value, verdict; with ``others`` (results of the same chapter at
    paper scale) each claim's verdict there under its own (labelled with the profile, "(stale)" when judged by older
    rules), and a line per other result with its provenance and what differs from the paper's settings.  ``title``
    is HTML (escape any text in it); every other text is escaped here."""
    e = html.escape
    others = list(others)
    columns = scale_columns(others)
    rows = "".join(claim_row_html(c, others=[(lab, m.get(c.id)) for lab, m in columns]) for c in claims)
    notes = "".join(f"<p><small>Under each verdict: stored <code>{e(o.profile)}</code> result — "
                    f"{e(scale_label(o))}" + (f"; differs from the paper's settings: {e('; '.join(o.differences))}"
                                              if o.differences else "") + "</small></p>" for o in others)
    return (f"<div class='critnotes-claims'><p><b>{title}</b></p>{notes}<table>"
            "<thead><tr><th>claim</th><th>kind</th><th>paper</th><th>measured here</th><th>verdict</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


def markdown_cell(text: Any) -> str:
    """``text`` safe inside one Markdown table cell: ``&``, ``<``, ``|`` and backticks escaped,
    line breaks as ``<br>``."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|").replace("`", "\\`")
    return "<br>".join(s.splitlines())


def claims_markdown(results: Iterable[ChapterResult]) -> str:
    """A Markdown table of every claim of every chapter (the reproduction ledger)."""
    m = markdown_cell
    lines = ["| chapter | claim | kind | paper | measured | verdict | profile |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for c in r.claims:
            lines.append(f"| {m(r.chapter)} | `{m(c.id)}` {m(c.statement)} | {m(c.kind)} | {m(format_value(c.paper))} | "
                         f"{m(format_value(c.measured))} | {VERDICT_STYLE[c.verdict][0]} | {m(r.profile)} |")
    return "\n".join(lines)
