"""The results contract: claims measured by a chapter, compared with the paper's values.

Every chapter's ``reproduce()`` returns a :class:`ChapterResult`; the CLI writes it as
``<out>/<chapter>.json``, the chapter's "Does it reproduce?" box renders it, and the reproduction
ledger gathers all of them.  ``measured`` is always computed by the run; ``agrees`` is the chapter's
own judgement (``None`` when the paper gives no number).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .cache import atomic_write_text, cache_dir

RESULTS_ENV = "CRITNOTES_RESULTS"


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON values: the package's one numpy → JSON conversion.

    Dicts (keys as str), lists, tuples and arrays become dicts/lists; numpy scalars Python scalars;
    a dataclass its fields (its own ``as_dict()`` if it has one); NaN becomes ``None`` and ±inf ±1e308
    (JSON has neither).
    """
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(x.as_dict() if hasattr(x, "as_dict") else dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else (1e308 if x > 0 else -1e308)
    return x


@dataclasses.dataclass
class Claim:
    """One checkable statement of a paper and what our run measured."""

    id: str                      # "<chapter>.<quantity>.<setting>", e.g. "updates.alpha.mlp_small.stage1"
    statement: str               # the paper's claim in words
    paper: Any                   # the paper's value as the paper gives it ("3-5", 0.94, None)
    measured: Any                # computed by this run (number, string or small dict)
    agrees: bool | None          # our honest judgement; None when the paper gives no number
    detail: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        return jsonable(dataclasses.asdict(self))


@dataclasses.dataclass
class ChapterResult:
    chapter: str
    profile: str
    device: str
    seconds: float
    claims: list[Claim]

    def as_dict(self) -> dict:
        return {"chapter": self.chapter, "profile": self.profile, "device": self.device,
                "seconds": round(float(self.seconds), 2), "claims": [c.as_dict() for c in self.claims]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)

    def save(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<out_dir>/<chapter>.json`` atomically (default: :func:`results_dir`)."""
        path = Path(out_dir or results_dir()) / f"{self.chapter}.json"
        atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def from_dict(cls, d: dict) -> "ChapterResult":
        return cls(d["chapter"], d["profile"], d["device"], d["seconds"], [Claim(**c) for c in d["claims"]])

    def _repr_html_(self) -> str:
        return claims_html(self.claims, title=f"Does it reproduce? — {self.chapter} "
                                              f"(profile <code>{self.profile}</code>, {self.device}, {self.seconds:.0f} s)")


def results_dir() -> Path:
    """Where notebooks and the CLI leave chapter results for the ledger: ``$CRITNOTES_RESULTS``."""
    raw = os.environ.get(RESULTS_ENV)
    if raw:
        return Path(raw).expanduser()
    root = cache_dir() or Path.home() / ".cache" / "critnotes"
    return root / "results"


def load_results(folder: str | os.PathLike | None = None) -> list[ChapterResult]:
    """All ``*.json`` chapter results in ``folder`` (default :func:`results_dir`)."""
    folder = Path(folder or results_dir())
    out = []
    for path in sorted(folder.glob("*.json")):
        out.append(ChapterResult.from_dict(json.loads(path.read_text())))
    return out


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


VERDICTS = {True: ("✔ agrees", "#1a7f37"), False: ("✘ differs", "#cf222e"), None: ("– no number", "#6e7781")}


def claim_row_html(c: Claim, before: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> str:
    """One table row: [before…] claim, paper, measured, verdict [after…]."""
    verdict, colour = VERDICTS[c.agrees]
    cells = [*before, f"<code>{c.id}</code><br><small>{c.statement}</small>", format_value(c.paper),
             f"<b>{format_value(c.measured)}</b>", f"<span style='color:{colour}'>{verdict}</span>", *after]
    return "<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"


def claims_html(claims: Iterable[Claim], title: str = "Does it reproduce?") -> str:
    """An HTML table: claim, paper's value, measured value, verdict."""
    rows = "".join(claim_row_html(c) for c in claims)
    return (f"<div class='critnotes-claims'><p><b>{title}</b></p><table>"
            "<thead><tr><th>claim</th><th>paper</th><th>measured here</th><th>verdict</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


def claims_markdown(results: Iterable[ChapterResult]) -> str:
    """A Markdown table of every claim of every chapter (the reproduction ledger)."""
    lines = ["| chapter | claim | paper | measured | agrees? | profile |", "|---|---|---|---|---|---|"]
    for r in results:
        for c in r.claims:
            lines.append(f"| {r.chapter} | `{c.id}` {c.statement} | {format_value(c.paper)} | "
                         f"{format_value(c.measured)} | {VERDICTS[c.agrees][0]} | {r.profile} |")
    return "\n".join(lines)
