"""Tree utilities: mapping, leaves, comparisons, read-only leaves and path-qualified errors."""

import attrs
import numpy as np
import pytest

import purenet as pn


def _params(shapes: list[tuple[int, int]]) -> pn.Params:
    rng = np.random.default_rng(0)
    return tuple(pn.Dense(rng.standard_normal(s), rng.standard_normal(s[1])) for s in shapes)


def test_tree_map_builds_a_new_tree_of_the_same_structure() -> None:
    params = _params([(3, 4), (4, 2)])
    doubled = pn.tree_map(lambda a: 2 * a, params)
    assert isinstance(doubled, tuple) and all(isinstance(d, pn.Dense) for d in doubled)
    np.testing.assert_array_equal(doubled[1].w, 2 * params[1].w)
    np.testing.assert_array_equal(doubled[0].b, 2 * params[0].b)


def test_tree_map_over_several_trees_pairs_leaves() -> None:
    a, b = _params([(3, 4)]), _params([(3, 4)])
    summed = pn.tree_map(lambda x, y, z: x + y + z, a, b, a)
    np.testing.assert_array_equal(summed[0].w, 2 * a[0].w + b[0].w)


def test_shape_mismatch_names_the_path() -> None:
    with pytest.raises(ValueError, match=r"^\[1\]\.w: shape \(100, 10\) vs \(100, 11\)$"):
        pn.tree_map(
            lambda x, y: x + y, _params([(3, 100), (100, 10)]), _params([(3, 100), (100, 11)])
        )


def test_structure_mismatch_names_the_path() -> None:
    with pytest.raises(ValueError, match=r"<root>: tuple of length 2 vs tuple of length 1"):
        pn.tree_map(lambda x, y: x, _params([(3, 4), (4, 2)]), _params([(3, 4)]))


def test_leaves_are_in_depth_first_field_order() -> None:
    params = _params([(3, 4), (4, 2)])
    leaves = pn.tree_leaves(params)
    assert [leaf.shape for leaf in leaves] == [(3, 4), (4,), (4, 2), (2,)]


def test_arrays_in_a_tree_are_read_only() -> None:
    params = _params([(3, 4)])
    with pytest.raises(ValueError, match="read-only"):
        params[0].w[0, 0] = 5.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        params[0].w = np.zeros((3, 4))  # type: ignore[misc]


def test_equal_and_allclose() -> None:
    a = _params([(3, 4)])
    b = pn.tree_map(lambda x: x + 1e-9, a)
    assert pn.tree_equal(a, a)
    assert not pn.tree_equal(a, b)
    assert pn.tree_allclose(a, b)
    assert not pn.tree_allclose(a, pn.tree_map(lambda x: x + 1.0, a))
    assert not pn.tree_equal(a, pn.tree_map(lambda x: x.astype(np.float32), a))
    assert not pn.tree_allclose(a, _params([(3, 5)]))


def test_reprs_of_trees_results_and_models_show_shapes_not_values() -> None:
    arch = pn.Architecture((3, 4, 2))
    params = pn.init(arch, seed=0)
    assert repr(params) == (
        "(Dense(w=float32[3, 4], b=float32[4]), Dense(w=float32[4, 2], b=float32[2]))"
    )
    data = pn.Dataset(np.ones((6, 3), np.float32), np.arange(6) % 2)
    result = pn.train(arch, params, pn.optim.SGD(0.1), data, epochs=9, batch_size=3, seed=0)
    text = repr(result)
    # Nine reports: the first, a count of the seven between, the last.
    assert "... 7 more ..." in text and text.count("EpochReport(") == 2
    assert "Dense(w=float32[3, 4], b=float32[4])" in text and "array(" not in text
    model = pn.Model(arch, params)
    assert "params=(Dense(w=float32[3, 4]" in repr(model) and len(repr(model)) < 600
