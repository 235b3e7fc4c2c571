import math

import numpy as np
import pytest
import torch

from econcs.shared import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_probabilities,
    check_same_length,
    check_tensor,
    check_type,
)


def test_check_int_accepts_and_rejects():
    assert check_int(np.int64(4), "n", low=1) == 4
    with pytest.raises(TypeError, match="n_items: expected an integer"):
        check_int(2.0, "n_items")
    with pytest.raises(TypeError, match="n_items"):
        check_int(True, "n_items")
    with pytest.raises(ValueError, match=r"n_bidders: expected an integer >= 1, got -2"):
        check_int(-2, "n_bidders", low=1)
    with pytest.raises(ValueError, match="<= 5"):
        check_int(6, "k", low=0, high=5)


def test_check_float_ranges_and_nan():
    assert check_float(1, "lr", low=0.0, low_inclusive=False) == 1.0
    with pytest.raises(ValueError, match=r"temperature: expected a number > 0"):
        check_float(0.0, "temperature", low=0.0, low_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        check_float(math.nan, "epsilon")
    with pytest.raises(ValueError, match="finite"):
        check_float(math.inf, "epsilon")
    assert check_float(math.inf, "cap", finite=False) == math.inf
    with pytest.raises(TypeError, match="epsilon: expected a real number"):
        check_float("0.1", "epsilon")


def test_check_choice_and_type_and_bool():
    assert check_choice("additive", "valuation", ["additive", "unit-demand"]) == "additive"
    with pytest.raises(ValueError, match=r"valuation: expected one of 'additive', 'unit-demand'"):
        check_choice("both", "valuation", ["additive", "unit-demand"])
    with pytest.raises(ValueError, match="valuation"):
        check_choice([1], "valuation", ["additive"])
    with pytest.raises(TypeError, match="spec: expected str"):
        check_type(3, "spec", str)
    with pytest.raises(TypeError, match="verbose"):
        check_bool(1, "verbose")


def test_check_array_shapes_and_values():
    x = check_array([[1, 2, 3]], "X", ndim=2, shape=(None, 3))
    assert x.dtype == np.float64 and x.shape == (1, 3)
    with pytest.raises(ValueError, match=r"X: expected shape \(any, 4\), got shape \(1, 3\)"):
        check_array([[1, 2, 3]], "X", shape=(None, 4))
    with pytest.raises(ValueError, match="X: expected an array with 2 dimension"):
        check_array([1, 2], "X", ndim=2)
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        check_array([1.0, np.nan], "X")
    with pytest.raises(ValueError, match="non-empty"):
        check_array([], "X")
    with pytest.raises(TypeError, match="X: expected an array-like"):
        check_array("abc", "X")
    with pytest.raises(TypeError, match="X"):
        check_array([[1, 2], [3]], "X")


def test_check_tensor_keeps_graph_and_checks():
    w = torch.ones(3, requires_grad=True)
    out = check_tensor(w * 2, "values", ndim=1)
    out.sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 2.0))
    with pytest.raises(ValueError, match="values: expected finite values"):
        check_tensor(torch.tensor([1.0, float("nan")]), "values")
    with pytest.raises(ValueError, match=r"values: expected shape \(any, 2, 2\)"):
        check_tensor(torch.zeros(5, 2, 3), "values", shape=(None, 2, 2))
    assert check_tensor(np.zeros((2, 2)), "values", dtype=torch.float64).dtype == torch.float64


def test_check_probabilities():
    p = check_probabilities([[0.2, 0.8], [1.0, 0.0]], "outcome_probs")
    assert p.shape == (2, 2)
    with pytest.raises(ValueError, match="outcome_probs: expected entries summing to 1"):
        check_probabilities([[0.2, 0.7]], "outcome_probs")
    with pytest.raises(ValueError, match=r"outcome_probs: expected probabilities in \[0, 1\]"):
        check_probabilities([1.5, -0.5], "outcome_probs")


def test_check_same_length():
    check_same_length([1, 2], "X", np.zeros(2), "y")
    with pytest.raises(ValueError, match="X and y: expected the same number of rows, got 3 and 2"):
        check_same_length([1, 2, 3], "X", [0, 1], "y")
