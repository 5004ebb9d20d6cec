"""Did a method's lab gain over the baseline survive in production? One verdict per method, by written rules.

The rules are applied in order; the first that matches decides. All p-values are multiplicity-adjusted across
methods (Holm by default). "Significant" means adjusted p < alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS = ("survives", "attenuated", "vanishes", "inconclusive")

RULES = """\
1. **inconclusive** if PGR is undefined in either setting (ceiling - weak gap CI includes 0: "gap too small").
2. **inconclusive** if the lab gain is not established: lab ΔPGR vs the baseline is not significantly > 0
   (paired t-test over seeds). There is nothing to transfer.
3. **vanishes** if production is equivalent to the baseline: TOST with bounds ±SESOI is significant; or if the
   production ΔPGR is significantly < 0 (the gain reversed).
4. **survives** if the production ΔPGR is significantly > 0 and the shrinkage test (method × setting interaction)
   does not show a significant drop from the lab.
5. **attenuated** if the shrinkage test shows a significant drop from the lab (production effect smaller), whether
   or not a significant production gain remains.
6. **inconclusive** otherwise (neither a gain nor equivalence is shown in production): the report gives the power
   of the production replay to detect the lab effect and the seeds that 80% power would need."""


@dataclass
class Evidence:
    method: str
    lab_delta: float | None
    prod_delta: float | None
    p_lab: float           # adjusted paired t-test p, lab
    p_prod: float          # adjusted paired t-test p, production
    p_equiv: float         # adjusted TOST p, production
    p_shrink: float        # adjusted shrinkage (interaction) p; NaN if not testable
    shrink_sign: float     # sign of (production - lab) effect in the shrinkage test
    power: float           # power of the production replay for the lab effect
    seeds_needed: int | None
    undefined: str | None = None


def _sig(p: float, alpha: float) -> bool:
    return p is not None and p == p and p < alpha


def decide(e: Evidence, alpha: float) -> tuple[str, str]:
    """(verdict, reason citing the rule and the numbers it used)."""
    if e.undefined:
        return "inconclusive", f"rule 1: {e.undefined}"
    if not (_sig(e.p_lab, alpha) and e.lab_delta > 0):
        return "inconclusive", f"rule 2: no significant lab gain (ΔPGR {e.lab_delta:+.3f}, adj. p {e.p_lab:.3g})"
    if _sig(e.p_equiv, alpha):
        return "vanishes", f"rule 3: production equivalent to baseline (TOST adj. p {e.p_equiv:.3g})"
    if _sig(e.p_prod, alpha) and e.prod_delta < 0:
        return "vanishes", f"rule 3: production gain reversed (ΔPGR {e.prod_delta:+.3f}, adj. p {e.p_prod:.3g})"
    shrank = _sig(e.p_shrink, alpha) and e.shrink_sign < 0
    if _sig(e.p_prod, alpha) and not shrank:
        return "survives", f"rule 4: production ΔPGR {e.prod_delta:+.3f} (adj. p {e.p_prod:.3g}), no significant drop"
    if shrank:
        return "attenuated", (f"rule 5: significant drop from the lab (shrinkage adj. p {e.p_shrink:.3g}); "
                              f"production ΔPGR {e.prod_delta:+.3f} (adj. p {e.p_prod:.3g})")
    need = f"{e.seeds_needed} seeds" if e.seeds_needed else "more seeds than is practical"
    return "inconclusive", (f"rule 6: neither gain nor equivalence shown in production; power {e.power:.2f} "
                            f"for the lab effect, 80% power needs {need}")
