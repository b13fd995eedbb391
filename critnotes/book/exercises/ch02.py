"""Exercise checks of chapter 2 (`maxent`)."""
from __future__ import annotations


from critnotes.analysis import information as inf
from critnotes.book.exercises import Feedback, compare

_LAM, _KAPPA = 2.0, 1.2


def check_alpha(answer) -> Feedback:
    """Exercise 2.1: the fitted exponent of the numerical max-ent optimum for λ = 2, κ = 1.2 is λκ (Eq 6)."""
    return compare(answer, _LAM * _KAPPA, what="α for λ = 2, κ = 1.2", rtol=1e-3,
                   mistakes=[(_LAM, "that is λ alone — the exponent also carries the direction factor κ"),
                             (_LAM / _KAPPA, "α = λκ, a product, not a ratio"),
                             (-_LAM * _KAPPA, "α is the positive exponent of p ∝ |Δw|^-α")])


def quadratic_setup():
    """Exercise 2.2's fixed small network: ``(f, theta, x, u)`` — its logits function
    (:func:`~critnotes.analysis.information.logits_fn`), flat parameters, 32 inputs and a unit direction."""
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    th = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    u = torch.randn(th.numel(), generator=torch.Generator().manual_seed(2))
    return inf.logits_fn(net), th, x, u / u.norm()


def _quadratic_ratio(r: float) -> float:
    """KL / ½r²uᵀFu for a move of length r along the direction of :func:`quadratic_setup`."""
    f, th, x, u = quadratic_setup()
    return inf.output_kl(f, th, th + r * u, x) / (0.5 * r * r * inf.fisher_quadratic(f, th, x, u))


def check_quadratic_ratio(answer) -> Feedback:
    """Exercise 2.2: KL/(½ΔwᵀFΔw) for r = 1e-3 and r = 10 along the exercise's direction (near 1, then not)."""
    right = [_quadratic_ratio(1e-3), _quadratic_ratio(10.0)]
    return compare(answer, right, what="[ratio at r=1e-3, ratio at r=10]", rtol=1e-3,
                   mistakes=[([1.0, 1.0], "the ratio is 1 only in the limit r → 0; compute it at r = 10"),
                             ([2 * right[0], 2 * right[1]], "the quadratic form is ½ΔwᵀFΔw — did you drop the ½?")],
                   shape_hint="Give a list of two ratios.")


CASES = {
    "check_alpha": (_LAM * _KAPPA, [(_LAM, "λ alone"), (_LAM / _KAPPA, "a product")]),
    "check_quadratic_ratio": ([_quadratic_ratio(1e-3), _quadratic_ratio(10.0)],
                              [([1.0, 1.0], "only in the limit"), ([2 * _quadratic_ratio(1e-3), 2 * _quadratic_ratio(10.0)],
                                                                  "drop the ½")]),
}
