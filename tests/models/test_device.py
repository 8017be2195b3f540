import pytest

from models.device import resolve_device
from models.errors import ModelError


def test_auto_without_gpu_is_cpu_int8():
    choice = resolve_device("auto", gpu_count=lambda: 0)
    assert (choice.device, choice.compute_type, choice.torch_device) == ("cpu", "int8", "cpu")


def test_auto_with_gpus_is_cuda_float16_on_every_gpu():
    choice = resolve_device("auto", gpu_count=lambda: 2)
    assert choice.device == "cuda"
    assert choice.compute_type == "float16"
    assert choice.device_indices == (0, 1)
    assert choice.torch_device == "cuda:0"


def test_explicit_overrides():
    choice = resolve_device("cuda", "int8_float16", (1,), gpu_count=lambda: 2)
    assert (choice.compute_type, choice.device_indices) == ("int8_float16", (1,))
    assert resolve_device("cpu", "float32", gpu_count=lambda: 4).compute_type == "float32"


@pytest.mark.parametrize(
    ("device", "compute", "indices", "gpus", "message"),
    [
        ("cuda", "auto", None, 0, "no CUDA GPU"),
        ("cpu", "float16", None, 0, "needs a GPU"),
        ("tpu", "auto", None, 0, "unknown device"),
        ("auto", "int3", None, 0, "unknown compute type"),
        ("cuda", "auto", (3,), 2, "not visible"),
    ],
)
def test_impossible_choices_are_refused(device, compute, indices, gpus, message):
    with pytest.raises(ModelError, match=message):
        resolve_device(device, compute, indices, gpu_count=lambda: gpus)
