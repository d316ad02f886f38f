import numpy as np
import pytest

from course_lib.gradcheck import numerical_gradient, relative_error


def test_scalar_function_with_known_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    a = rng.standard_normal((3, 4))
    g = numerical_gradient(lambda z: np.sum(a * z**2) + np.sin(z).sum(), x)
    assert relative_error(g, 2 * a * x + np.cos(x)) < 1e-8


def test_vector_jacobian_product_form():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    w = rng.standard_normal((3, 2))
    dout = rng.standard_normal((5, 2))
    g = numerical_gradient(lambda z: z @ w, x, dout)
    assert relative_error(g, dout @ w.T) < 1e-8


def test_input_is_restored_and_float32_is_refused():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    before = x.copy()
    numerical_gradient(lambda z: (z**3).sum(), x)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(TypeError):
        numerical_gradient(lambda z: z.sum(), x.astype(np.float32))


def test_relative_error_detects_a_wrong_gradient():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, 1.01 * a) == pytest.approx(0.01 / 2.01)
    assert relative_error(a, -a) == 1.0
    with pytest.raises(ValueError):
        relative_error(a, a[:2])
