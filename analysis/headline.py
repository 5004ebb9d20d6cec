"""The report's first lines: the verdicts that matter in one or two sentences, before any table (issue 27: the plan
paragraph and the definitions used to come first, and the answer later)."""

from __future__ import annotations

from analysis.format import ci
from analysis.rules import NOT_TESTED

GAIN = "lab gain established"


def _signed(x) -> str:
    return "--" if x is None else f"{x:+.3f}"


def _delta(d: dict | None) -> str:
    """'+0.123 [0.050, 0.200]': a ΔPGR estimate with its CI, or why there is none."""
    if not d or d.get("estimate") is None:
        return "undefined (gap too small)"
    return f"{_signed(d['estimate'])} {ci(d['ci'])}"


def _lab_sentence(g: dict, tested_here: bool) -> str:
    """One lab (setting, dataset): the methods with a lab gain, or that none has one and the best of them."""
    where, verdicts = f"`{g['setting']} / {g['dataset']}`", g["lab_verdicts"]
    gains = [m for m, v in verdicts.items() if v["verdict"] == GAIN]
    if gains and not tested_here:
        return (f"Lab gain established on {where} for " + ", ".join(
            f"**{m}** (ΔPGR {_delta(g['delta'].get(m))})" for m in gains)
            + f"; {len(verdicts) - len(gains)} of {len(verdicts)} without one.")
    if gains:
        return ""  # said per method by the transfer sentences
    defined = {m: d for m, d in g["delta"].items() if d.get("estimate") is not None}
    best = max(defined, key=lambda m: defined[m]["estimate"]) if defined else None
    open_ = sum(v["verdict"] == "lab inconclusive" for v in verdicts.values())
    return (f"No method established a lab gain over `{g['baseline']}` on {where} ({len(verdicts)} tested"
            + (f", {open_} of them inconclusive" if open_ else "")
            + (f"; the best, {best}, ΔPGR {_delta(defined[best])}" if best else "") + ")"
            + ("; nothing to transfer." if tested_here or not open_ else "."))


def _transfer_sentences(res: dict) -> list[str]:
    comps = res["comparisons"]
    tested = [c for c in comps if c["verdict"] != NOT_TESTED]
    out = [f"**{c['method']}**: lab ΔPGR {_delta(c['lab_delta'])}; production ({c['prod_dataset']}) ΔPGR "
           f"{_delta(c['prod_delta'])}: **{c['verdict']}**." for c in tested]
    untested = [c for c in comps if c["verdict"] == NOT_TESTED]
    if untested:
        below = sum(1 for c in untested if (c["prod_delta"].get("ci") or (None,))[-1] is not None
                    and c["prod_delta"]["ci"][1] < 0)
        above = sum(1 for c in untested if (c["prod_delta"].get("ci") or (None,))[0] is not None
                    and c["prod_delta"]["ci"][0] > 0)
        n = len(untested)
        out.append(f"{'All' if not tested else 'The other'} {n} replayed method{'s' * (n != 1)}: {NOT_TESTED}; in "
                   f"production, descriptively, {below} below and {above} above the baseline (ΔPGR CI excludes 0).")
    return out


def plain(markdown_line: str) -> str:
    """The answer for a terminal: without Markdown's ** and backticks."""
    return markdown_line.replace("**", "").replace("*", "").replace("`", "")


def headline(res: dict) -> list[str]:
    """Markdown lines: the answer, for the top of the report."""
    labs = [g for g in res["groups"] if g.get("lab_verdicts")]
    tested_here = bool(res["comparisons"])
    parts = [s for s in (_lab_sentence(g, tested_here) for g in labs) if s]
    if tested_here:
        parts += _transfer_sentences(res)
    if not parts:  # no lab setting in the records: estimates only
        parts = [f"No verdicts: {res['notes'][-1]}." if res["notes"] else "No verdicts."]
    flagged = sorted({m for g in res["groups"] for m in g.get("data_issues", {})})
    if flagged:
        parts.append(f"*Caveat: the records of {', '.join(flagged)} are flagged (see Caveats).*")
    return ["**Answer.** " + " ".join(parts), ""]
