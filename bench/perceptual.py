"""Images per second for LPIPS (alex, vgg) and VGG16 features at 128 and 256 px (prints JSON).

Forward passes under inference mode, plus forward+backward to the input for the VGG16 perceptual
loss as training uses it. Runs on CUDA when available, else CPU with torch's default threads.
Needs the provisioned cache (`make setup`).
"""
import functools
import json
import statistics
import time

import torch

from inpaint.perceptual import lpips_model, vgg16_features


def rate(fn, batch: int, seconds: float, sync) -> float:
    """Images/s from the median call: robust to other jobs on a shared machine."""
    for _ in range(2):  # warm-up: allocator, oneDNN/cuDNN primitive selection, lazy init
        fn()
    sync()
    times, t0 = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - t0 < seconds:
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def loss_step(model, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    sum(f.mean() for f in model(x).values()).backward()


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    batch, seconds = (32, 2.0) if device == "cuda" else (4, 0.5)
    lpips = {f"lpips_{net}": lpips_model(net, device) for net in ("alex", "vgg")}
    vgg = {"vgg16_to_relu4_3": vgg16_features(("relu2_2", "relu4_3"), device),
           "vgg16_to_relu5_3": vgg16_features(device=device)}
    g = torch.Generator().manual_seed(0)
    results = {}
    for size in (128, 256):
        x = torch.rand(batch, 3, size, size, generator=g).to(device)
        y = torch.rand(batch, 3, size, size, generator=g).to(device)
        cases = {name: functools.partial(m, x, y) for name, m in lpips.items()}
        cases.update({name: functools.partial(m, x) for name, m in vgg.items()})
        for name, fn in cases.items():
            with torch.inference_mode():
                results.setdefault(name, {})[str(size)] = round(rate(fn, batch, seconds, sync), 1)
        step = functools.partial(loss_step, vgg["vgg16_to_relu4_3"], x)
        results.setdefault("vgg16_to_relu4_3_fwd_bwd", {})[str(size)] = round(rate(step, batch, seconds, sync), 1)
    print(json.dumps({"bench": "perceptual_images_per_second", "device": device,
                      "threads": torch.get_num_threads(), "batch": batch, "results": results}, indent=1))


if __name__ == "__main__":
    main()
