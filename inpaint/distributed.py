"""Data-parallel training on torch.distributed: DDP across processes, GPUs and machines, launched by torchrun.

One code path for 1 and N processes. `train.common.distributed` says how many processes
(`nproc_per_node` x `nnodes`) and which backend (`auto`: NCCL on CUDA, gloo on the CPU). The train stage
starts itself again under torchrun when params ask for more than one process on one machine
(`launch`); on several machines each node runs torchrun itself (README: "Scale out"). Under
torchrun every process reads its place from the environment torchrun sets (RANK, WORLD_SIZE,
LOCAL_RANK), wraps the generator and the discriminator in DistributedDataParallel (gradients averaged
over the processes) and takes its slice of every global batch (inpaint.data.StepSampler). Only rank 0
validates and writes checkpoints, logs and sample grids.

With one process nothing here does anything: no process group, no wrapper, the exact single-process
code.
"""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

BACKENDS = ("auto", "gloo", "nccl")
RDZV_ENV = "INPAINT_RDZV_ENDPOINT"  # host:port of node 0, for a launch over several machines
# how long a process waits in a collective: rank 0 validates and writes while the others wait
TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class Ranks:
    """This process's place: rank among world_size processes, local_rank on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that validates and writes."""
        return self.rank == 0


def ranks() -> Ranks:
    """From torchrun's environment; a plain `python` run is rank 0 of 1."""
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def settings(cfg: dict) -> dict:
    """`cfg["distributed"]` checked: {nproc_per_node, nnodes, backend, world_size}. Errors name the
    dotted params key and the fix; a global batch that does not divide among the processes is one."""
    where = f"train.common.distributed (or train.{cfg.get('model', '<model>')}.distributed)"
    d = dict(cfg.get("distributed") or {})
    unknown = set(d) - {"nproc_per_node", "nnodes", "backend"}
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; it takes nproc_per_node, nnodes, backend")
    out = {"nproc_per_node": d.get("nproc_per_node", 1), "nnodes": d.get("nnodes", 1), "backend": d.get("backend", "auto")}
    for key in ("nproc_per_node", "nnodes"):
        v = out[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{where}.{key} is {v!r}; use a whole number >= 1")
    if out["backend"] not in BACKENDS:
        raise ValueError(f"{where}.backend is {out['backend']!r}; use one of {list(BACKENDS)}")
    world = out["world_size"] = out["nproc_per_node"] * out["nnodes"]
    if cfg.get("batch_size", 0) % world:
        raise ValueError(f"train.common.batch_size (or train.{cfg.get('model')}.batch_size) {cfg['batch_size']} is the "
                         f"global batch and does not divide among {world} processes ({where}); use a multiple of {world}")
    return out


def launch(cfg: dict, argv: list[str]) -> int | None:
    """Run `argv` (this stage's script and arguments) under torchrun when `cfg` asks for more than one
    process and this is not already a torchrun worker; returns torchrun's exit code, or None when the
    caller should train in this process.

    One machine: `torchrun --standalone`. Several (nnodes > 1): this is node 0 and needs
    INPAINT_RDZV_ENDPOINT=host:port (reachable from the other nodes, which run torchrun themselves).
    Under torchrun, WORLD_SIZE must equal nproc_per_node x nnodes.
    """
    d = settings(cfg)
    if "WORLD_SIZE" in os.environ:  # a torchrun worker (launched by us or by the user on another node)
        check_world(d, ranks())
        return None
    if d["world_size"] == 1:
        return None
    run = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={d['nproc_per_node']}"]
    if d["nnodes"] == 1:
        run.append("--standalone")
    else:  # static rendezvous: node 0 (where DVC runs) holds rank 0, the process that writes
        host, _, port = os.environ.get(RDZV_ENV, "").rpartition(":")
        if not (host and port.isdigit()):
            raise ValueError(f"train.common.distributed.nnodes is {d['nnodes']}: set {RDZV_ENV}=host:port of this "
                             "node (node 0) and start torchrun on the other nodes (README: Scale out)")
        run += [f"--nnodes={d['nnodes']}", "--node_rank=0", f"--master_addr={host}", f"--master_port={port}"]
    run.append("--")  # the script's own options are not torchrun's (--logs would pass for its --logs-specs)
    print(" ".join(["launching:", *run[2:], *argv]), flush=True)
    child = subprocess.Popen([*run, *argv])
    forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731  (dvc queue kill, Ctrl-C)
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_world(d: dict, r: Ranks) -> None:
    """The processes torchrun started are the ones `settings` asks for (one process outside torchrun
    is an error too when params ask for more: only the train stage launches them)."""
    if r.world_size != d["world_size"]:
        how = "torchrun started" if r.world_size > 1 else "this is a plain run of"
        raise ValueError(f"{how} {r.world_size} process(es) but train.common.distributed asks for "
                         f"{d['nproc_per_node']} x {d['nnodes']} = {d['world_size']}; make them agree (only "
                         "stages/train.py, i.e. dvc repro, starts several processes by itself)")


def device_for(r: Ranks, device: torch.device) -> torch.device:
    """Each process of a multi-process CUDA run takes GPU LOCAL_RANK (choose which GPUs a run sees with
    cuda_visible_devices); a named index would put every process on one GPU."""
    if r.world_size == 1 or device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(f"train.common.device is {device} but with {r.world_size} processes each takes "
                         "cuda:<local rank>; set device: auto or cuda, and pick GPUs with cuda_visible_devices")
    if r.local_rank >= torch.cuda.device_count():
        raise ValueError(f"process {r.local_rank} on this machine has no GPU of its own ({torch.cuda.device_count()} "
                         "visible); lower train.common.distributed.nproc_per_node")
    device = torch.device("cuda", r.local_rank)
    torch.cuda.set_device(device)
    return device


def start(r: Ranks, backend: str, device: torch.device) -> bool:
    """Join the process group (env:// rendezvous from torchrun); True if this call created it."""
    if r.world_size == 1 or dist.is_initialized():
        return False
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError("train.common.distributed.backend is nccl but training runs on the CPU; use auto or gloo")
    dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if backend == "nccl" else None)
    return True


def stop(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def sync_norms(module: torch.nn.Module, r: Ranks, device: torch.device, what: str) -> torch.nn.Module:
    """BatchNorm over the global batch (SyncBatchNorm) when several processes train; only CUDA has it,
    and a per-process BatchNorm would make N processes train another model than one."""
    if r.world_size == 1 or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        return module
    if device.type != "cuda":
        raise ValueError(f"{what} uses BatchNorm, which needs SyncBatchNorm (CUDA only) to train on several processes "
                         f"on the CPU; set {what}.kwargs.norm: group, or train.common.distributed.nproc_per_node: 1")
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)


def wrap(module: torch.nn.Module, r: Ranks, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `module` (gradients averaged over the processes after each backward);
    the module itself with one process.

    Buffers are not broadcast: a spectral norm's power-iteration vectors follow the weights, identical on
    every process, and broadcasting them between two forwards would break the first one's backward.
    Unused parameters are searched for: the VAE's prior head, say, has no gradient when loss.kl is 0.
    """
    if r.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                   broadcast_buffers=False, find_unused_parameters=True)


def mean(logs: dict[str, float], r: Ranks, device: torch.device) -> dict[str, float]:
    """Each value averaged over the processes (the logs of the global batch); unchanged with one."""
    if r.world_size == 1 or not logs:
        return logs
    keys = sorted(logs)
    t = mean_over_processes(torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64, device=device))
    return dict(zip(keys, t.tolist()))


def _group_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def mean_over_processes(x: torch.Tensor) -> torch.Tensor:
    """A (detached) tensor averaged over the processes of the running process group; `x` itself
    outside data-parallel training, and outside autograd (validation on rank 0 alone must not wait
    for the others). For losses normalised by a count over the batch (pixels of the hole): divided by
    the mean count, N processes reproduce one process's loss and gradients."""
    if _group_size() == 1 or not torch.is_grad_enabled():
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()


def any_process(flag: bool, device: torch.device) -> bool:
    """True on every process if `flag` is true on any (a loss that diverged on one process stops all)."""
    if _group_size() == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def agree(flag: bool, r: Ranks, device: torch.device) -> bool:
    """Rank 0's flag on every process (a time budget must end every process at the same step)."""
    if r.world_size == 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def from_rank_0(obj, r: Ranks):
    """Rank 0's `obj` on every process (pickled through the process group; `obj` itself with one)."""
    if r.world_size == 1:
        return obj
    box = [obj if r.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj, r: Ranks) -> list:
    """Every process's `obj`, in rank order, on every process ([obj] with one)."""
    if r.world_size == 1:
        return [obj]
    out = [None] * r.world_size
    dist.all_gather_object(out, obj)
    return out


def pin_gpus(visible: str | int | None) -> None:
    """`cuda_visible_devices` (e.g. "1" or "0,1") into CUDA_VISIBLE_DEVICES, before CUDA starts:
    each queued experiment can have its own GPUs. None leaves the environment as it is."""
    if visible is None:
        return
    value = str(visible)
    if not value.replace(",", "").isdigit():
        raise ValueError(f"cuda_visible_devices is {visible!r}; use GPU indices like 1 or \"0,1\", or null")
    os.environ["CUDA_VISIBLE_DEVICES"] = value
