"""Every CUDA source compiles without a warning with nvcc (sm_75/80/90) and with NVRTC as CuPy runs it.

The package's modules come from ``_cuda_compile.package_modules()``, the
test kernels from ``toy_kernel_modules()``. Without nvcc, or without CuPy and
the NVRTC wheel (the ``gpu-test`` extra), these tests skip with the reason;
CI sets RECFREQ_REQUIRE_CUDA_COMPILERS=1 so that they fail instead.
"""

import pytest

from recfreq._device_backend import _assemble_source, _package_sources

from _cuda_compile import (
    ARCHITECTURES,
    CudaCompileError,
    cupy_nvrtc_options,
    kernel_parameters,
    nvcc_compile,
    nvrtc_compile,
    package_modules,
    package_source_files,
    require_nvcc,
    require_nvrtc,
    toy_kernel_modules,
)

MODULES = package_modules() + toy_kernel_modules()
HEADERS = package_source_files(".cuh")


def test_every_package_source_is_checked():
    listed = {m.filename for m in package_modules()}
    missing = set(package_source_files(".cu")) - listed
    assert not missing, f"add {sorted(missing)} to _cuda_compile.package_modules() (with its name expressions)"
    assert "portability.cuh" in HEADERS


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("module", MODULES, ids=str)
def test_nvcc(module, arch):
    nvcc = require_nvcc()
    nvcc_compile(module.source(), module.name_expressions, arch, module.options, nvcc=nvcc, filename=module.filename)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("module", MODULES, ids=str)
def test_nvrtc_as_cupy_compiles(module, arch):
    mapping = nvrtc_compile(module.source(), module.name_expressions, arch, module.options, filename=module.filename)
    assert set(mapping) == set(module.name_expressions)
    assert all(mapping.values())  # each name expression has a lowered (mangled) kernel name


@pytest.mark.parametrize("header", HEADERS)
def test_headers_compile_on_their_own(header):
    # the solver and ranking-loss codes are injected by the host into every module
    from recfreq._engine.cuda import module_defines

    source = _assemble_source(header, module_defines(), (_package_sources(),))
    nvcc_compile(source, (), "sm_75", nvcc=require_nvcc(), filename=header)
    nvrtc_compile(source, (), "sm_75", filename=header)


# The checks must be able to fail.

WARNING_SOURCE = "template <typename T> __global__ void warns(T* x) { int unused; x[0] = T(1); }\n"
BROKEN_TEMPLATE = "template <typename T> __global__ void broken(T* x) { x[0] = T::missing; }\n"


def test_nvcc_fails_on_a_warning():
    nvcc = require_nvcc()
    with pytest.raises(CudaCompileError, match="unused"):
        nvcc_compile(WARNING_SOURCE, ("warns<float>",), "sm_80", nvcc=nvcc, filename="warns.cu")


def test_nvcc_instantiates_the_name_expressions():
    nvcc = require_nvcc()
    nvcc_compile(BROKEN_TEMPLATE, (), "sm_80", nvcc=nvcc)  # never instantiated: parses
    with pytest.raises(CudaCompileError, match="missing"):
        nvcc_compile(BROKEN_TEMPLATE, ("broken<float>",), "sm_80", nvcc=nvcc)


def test_nvrtc_fails_on_a_warning():
    require_nvrtc()
    with pytest.raises(CudaCompileError, match="(?s)warned.*unused"):
        nvrtc_compile(WARNING_SOURCE, ("warns<float>",), "sm_80")


def test_nvrtc_fails_on_an_error():
    require_nvrtc()
    with pytest.raises(CudaCompileError, match="missing"):
        nvrtc_compile(BROKEN_TEMPLATE, ("broken<float>",), "sm_80")


def test_nvrtc_gets_the_options_cupy_uses():
    require_nvrtc()
    options = cupy_nvrtc_options(("-DX=1",), "sm_90")
    assert "-DX=1" in options and "-ftz=true" in options and "-arch=sm_90" in options
    assert "--device-as-default-execution-space" in options
    assert any(o.startswith(("--std=", "-std=")) for o in options)


def test_a_missing_compiler_skips_or_fails_when_required(monkeypatch):
    import _cuda_compile

    monkeypatch.setattr(_cuda_compile, "find_nvcc", lambda: None)
    monkeypatch.delenv(_cuda_compile.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="nvcc is not installed"):
        require_nvcc()
    monkeypatch.setenv(_cuda_compile.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="RECFREQ_REQUIRE_CUDA_COMPILERS=1 requires"):
        require_nvcc()


def test_kernel_parameters_are_read_from_the_source():
    source = next(m for m in toy_kernel_modules() if m.filename == "toys.cu").source()
    assert kernel_parameters(source, "dot_warp") == [
        ("const T*", "x"),
        ("const T*", "y"),
        ("const int*", "rows"),
        ("int", "n_samples"),
        ("int", "k"),
        ("T*", "out"),
    ]
    assert [name for _, name in kernel_parameters(source, "scalars")] == ["i", "ll", "ull", "f", "d", "out"]
    code = "__global__ void __launch_bounds__(128) k(float* a /* x, y */, unsigned long long n) {}"
    assert kernel_parameters(code, "k") == [("float*", "a"), ("unsigned long long", "n")]
    with pytest.raises(ValueError, match="found 0"):
        kernel_parameters(source, "missing")
