"""What this process may use (its CPUs) and environment variables set for a span of work and then put back:
no hidden state between runs."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def scoped_env(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def available_cpus() -> int:
    """The CPUs this process was given: Ray's allocation inside a Ray task, else the CPUs it may run on."""
    ray = sys.modules.get("ray")  # never imported just to ask: a plain `introbench run` has no Ray
    if ray is not None and ray.is_initialized():
        try:
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
            if cpus:
                return max(1, int(cpus))
        except Exception:  # noqa: BLE001 - the driver, not a task: no assignment to read
            pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def platform_of(device) -> dict[str, str]:
    """What a trial's numbers depend on beyond its config: the processor (a CPU of another make picks other
    kernels, so the same seed's float rounding, and after a while its curve, differ), the accelerator, torch."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    # the vector kernels torch picks on it (AVX2, AVX512, ...): two CPUs of one model name can differ there
    out = {"cpu": cpu, "kernels": torch.backends.cpu.get_cpu_capability(), "torch": str(torch.__version__)}
    if str(device).startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def this_machine() -> dict[str, str]:
    """platform_of for where the next trial would train here: the GPU when there is one, else the CPU."""
    import torch

    return platform_of("cuda" if torch.cuda.is_available() else "cpu")


def same_machine(platform: dict | None, here: dict) -> bool:
    """Did a trial recorded on ``platform`` run on a machine like ``here`` (both platform_of's), so that its time
    tells this machine's? The same GPU; on CPUs, the same model and vector kernels: an AVX2 core trains a CNN
    two to three times slower than an AVX-512 one of the same name. A trial stored before kernels were recorded
    matches nothing."""
    if not platform:
        return False
    if platform.get("gpu") or here.get("gpu"):
        return platform.get("gpu") == here.get("gpu")
    return bool(platform.get("kernels")) and (platform.get("cpu"), platform["kernels"]) == (here.get("cpu"),
                                                                                          here.get("kernels"))
