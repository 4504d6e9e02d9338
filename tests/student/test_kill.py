"""Training killed with SIGKILL at random points (while a step runs, while weights or the state are written)
and started again ends with the weights of a run that was never interrupted."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("train_process.py")
STEPS = 12  # 3 epochs of 4 batches, a checkpoint after each


def _step(out_dir: Path) -> int:
    try:
        return int(json.loads((out_dir / "last" / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError):  # not written yet
        return 0


@pytest.mark.slow
def test_training_killed_three_times_resumes_to_the_same_final_weights(tmp_path: Path) -> None:
    import torch

    straight = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "straight")], capture_output=True)
    assert straight.returncode == 0, straight.stderr.decode()[-2000:]

    out = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    while kills < 3:
        reached = _step(out)
        run = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 300
        while _step(out) <= reached and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))  # lands in a step, a weights write or a state write
        run.kill()
        run.wait(timeout=30)
        assert run.returncode != 0, "training finished before it was killed"
        kills += 1
    assert 0 < _step(out) < STEPS
    reached = _step(out)
    final = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True)
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    assert f"resumed at step {reached} " in final.stderr.decode()  # continued, not started again

    expected = torch.load(tmp_path / "straight" / "final.pt")
    resumed = torch.load(out / "final.pt")
    for name, tensor in expected.items():
        assert torch.allclose(tensor, resumed[name], atol=1e-6), name
    state = json.loads((out / "last" / "trainer_state.json").read_text())
    assert state["finished"] and state["global_step"] == STEPS
    assert [p["step"] for p in state["history"]] == list(range(1, STEPS + 1))
    assert (out / "best" / "student.json").is_file()
    assert not list(out.glob("best.*")) and not list((out / "last").glob("accelerate*"))
