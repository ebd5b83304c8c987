"""MMRec's side of ``bench/vs_mmrec.py``: its MGCN run in this process from a checkout, with the stand-ins for what
it expects of a GPU machine, and its log read back. Imports nothing of mmrecun's."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

EPOCH_LINE = re.compile(r"epoch (\d+) training \[time: ([0-9.]+)s")
BEST_BLOCK = re.compile(r"BEST .*?Valid: (.*?)\nTest: (.*?)\n", re.S)  # MMRec's closing summary


def mmrec_quality(log: str) -> dict:
    """MMRec's best epoch (0-based) and its valid/test Recall@20 and NDCG@20 at that epoch, read from MMRec's log.

    The metric keys are absent when the log has no closing summary.
    """
    best_epoch = epoch = None
    for line in log.splitlines():
        if m := EPOCH_LINE.search(line):
            epoch = int(m.group(1))
        elif "Best validation results updated" in line:
            best_epoch = epoch
    quality = {"best_epoch": best_epoch}
    if block := BEST_BLOCK.search(log):
        for split, text in zip(["valid", "test"], block.groups(), strict=True):
            for metric in ["recall@20", "ndcg@20"]:
                if found := re.search(rf"{metric}: ([0-9.]+)", text):
                    quality[f"{split}_{metric}"] = float(found.group(1))
    return quality


def _empty_modules(name: str, submodules: dict[str, dict]) -> None:
    """Register an empty module ``name`` and its ``submodules`` (dotted suffix -> attributes) in ``sys.modules``."""
    import types

    sys.modules[name] = types.ModuleType(name)
    for suffix, attributes in submodules.items():
        full = f"{name}.{suffix}"
        module = sys.modules[full] = types.ModuleType(full)
        module.__dict__.update(attributes)
        parent, _, leaf = full.rpartition(".")
        setattr(sys.modules[parent], leaf, module)


def _stand_ins() -> list[str]:
    """Install the stand-ins described in bench/vs_mmrec.py's docstring where needed; return their names."""
    import importlib.util

    import torch

    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    used = ["Tensor.cuda"]
    for name, modules in {"torchvision": {"transforms": {}, "transforms.functional": {"pad": None, "resize": None}}, "lmdb": {}}.items():
        if importlib.util.find_spec(name) is None:
            _empty_modules(name, modules)
            used.append(name)
    if importlib.util.find_spec("torch_scatter") is None:

        def scatter_add(src, index, dim=0, dim_size=None):
            if src.dim() != 1 or dim != 0:
                raise NotImplementedError("this stand-in covers MGCN's use only: 1-d values summed along dim 0")
            size = dim_size if dim_size is not None else int(index.max()) + 1
            return src.new_zeros(size).scatter_add_(0, index, src)

        _empty_modules("torch_scatter", {})
        sys.modules["torch_scatter"].scatter_add = scatter_add
        used.append("torch_scatter")
    return used + _numpy_aliases()


NUMPY_ALIASES = {"float": float, "int": int, "bool": bool, "object": object, "str": str, "complex": complex}


def _numpy_aliases() -> list[str]:
    """Restore the aliases of builtin types that NumPy 1.24 removed (``np.float`` = ``float`` ...) where absent.

    Returns the names restored (``np.float`` ...); an alias NumPy still has is left alone.
    """
    import numpy as np

    missing = [name for name in NUMPY_ALIASES if not hasattr(np, name)]
    for name in missing:
        setattr(np, name, NUMPY_ALIASES[name])
    return [f"np.{name}" for name in missing]


def child_mmrec(args) -> None:
    """Run MMRec's MGCN in this process (from its checkout); print wall, peak RSS and stand-ins as JSON on the last line.

    Imports nothing of mmrecun's, so that MMRec's memory and start-up are its own.
    """
    import resource

    data = Path(args.data).resolve()
    inter = next(data.glob("*.inter"))
    name = inter.stem
    with tempfile.TemporaryDirectory(prefix="mmrecun-vs-mmrec-") as tmp:
        linked = Path(tmp) / name
        linked.mkdir()
        for f in [inter, data / f"{args.vision}_feat.npy", data / f"{args.text}_feat.npy"]:
            (linked / f.name).symlink_to(f)
        stand_ins = _stand_ins()
        src = Path(args.mmrec).resolve() / "src"
        os.chdir(src)  # MMRec reads configs/ relative to the working directory, as its src/main.py is run
        sys.path.insert(0, str(src))
        from utils.quick_start import quick_start  # MMRec's entry point (src/utils/quick_start.py)

        config = {
            "gpu_id": 0,
            "use_gpu": False,
            "seed": [args.seed],
            "cl_loss": [0.01],
            "epochs": args.epochs,
            "data_path": tmp + "/",
            "inter_file_name": inter.name,
            "inter_splitting_label": "x_label",
            "USER_ID_FIELD": "userID",
            "ITEM_ID_FIELD": "itemID",
            "TIME_FIELD": "timestamp",
            "field_separator": "\t",
            "filter_out_cod_start_users": True,
            "vision_feature_file": f"{args.vision}_feat.npy",
            "text_feature_file": f"{args.text}_feat.npy",
        }
        t0 = time.perf_counter()
        quick_start(model="MGCN", dataset=name, config_dict=config, save_model=False)
        wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "stand_ins": stand_ins}))
