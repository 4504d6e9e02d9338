"""`python llama_server_process.py PORT`: xllamacpp's OpenAI-compatible server with the packaged SmolLM2 on
127.0.0.1:PORT, in its own process so that a test can kill it with SIGKILL and start it again.

One slot and greedy decoding: requests are answered one at a time, so a generation does not depend on
what else is in flight and a restarted server answers the same prompt with the same text.
"""

from __future__ import annotations

import sys
import time

import xllamacpp as xlc

from clinreason.teacher.models import resolve_gguf


def main(port: int) -> None:
    params = xlc.CommonParams()
    params.model.path = str(resolve_gguf("smollm2-135m"))
    params.model_alias = {"smollm2"}
    params.n_parallel = 1
    params.n_ctx = 4096
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.verbosity = -1
    params.hostnames = ["127.0.0.1"]
    params.port = port
    server = xlc.Server(params)  # serves until this process is killed
    assert server.listening_address
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(int(sys.argv[1]))
