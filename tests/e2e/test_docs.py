"""Every code block of README.md and docs/*.md runs as written.

The blocks are read when the test runs, so a block added to the docs is run too. Each
shell (`sh`, `bash`, `console`: its `$ ` lines) and `python` block of a document runs in
order, in one folder per document, against a fresh real server on a free loopback port
with a real worker process; `:8077` in a block becomes that port (and ROTA_SERVER names the
server). A block whose first line is a comment naming a file (`# mymod.py`,
`# pyproject.toml`) is saved under that name first, so later blocks can import or read it.
A Python block is imported by the worker (`rota worker --import <module>`), which is how
an app's tasks are run, then run with `python`; one named `test_*.py` is run with pytest.

A block that cannot run here (it serves until Ctrl-C, needs Docker or a production host)
has `<!-- not-run: why -->` on the line before it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client.live import LiveServer, free_port, running_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"sh", "bash", "shell", "console"}
PYTHONS = {"python", "py"}
BLOCK = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<text>.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->\s*$")
FILE_NAME = re.compile(r"^#\s*(?P<name>[\w.-]+\.(?:py|toml|cfg|ini|txt))\s*$")
BLOCK_TIMEOUT_S = 180.0
DOCUMENT_TIMEOUT_S = 900.0
WORKER_START_S = 30.0
BIN = Path(sys.executable).parent


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    """One fenced code block of a document."""

    document: Path
    line: int
    lang: str
    text: str
    not_run: str | None
    """Why it is not run (its marker), or None."""

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """Return the file the block names on its first line, if any."""
        first = self.text.split("\n", 1)[0]
        match = FILE_NAME.match(first.strip())
        return match["name"] if match else None


def blocks_of(document: Path) -> list[Block]:
    """Return the fenced blocks of a Markdown document, in order."""
    text = document.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.match(before.strip())
        found.append(
            Block(
                document=document,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match["lang"].lower(),
                text=match["text"],
                not_run=marker["reason"] if marker else None,
            )
        )
    return found


def test_the_documents_have_blocks_to_run() -> None:
    found = [block for document in DOCUMENTS for block in blocks_of(document) if runnable(block)]
    assert len(found) >= 5, "the block reader found almost nothing: is the pattern right?"
    readme = blocks_of(ROOT / "README.md")
    assert any(block.lang == "python" and runnable(block) for block in readme)


def runnable(block: Block) -> bool:
    return block.lang in SHELLS | PYTHONS and block.not_run is None


@pytest.mark.timeout(DOCUMENT_TIMEOUT_S)
@pytest.mark.parametrize(
    "document",
    [document for document in DOCUMENTS if any(map(runnable, blocks_of(document)))],
    ids=lambda path: path.name,
)
def test_every_block_runs_as_written(document: Path, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    for number, block in enumerate(blocks_of(document)):
        if block.not_run is not None:
            continue
        name = block.file_name
        if block.lang in PYTHONS:
            name = name or f"block_{number}.py"
        if name is not None:
            (folder / name).write_text(block.text, encoding="utf-8")
        if block.lang in SHELLS | PYTHONS:
            run_block(block, folder, tmp_path / f"db-{number}", name)


def run_block(block: Block, folder: Path, db_folder: Path, name: str | None) -> None:
    """Run one block against a fresh server and worker; fail naming the block if it fails."""
    db_folder.mkdir()
    with running_server(db_folder / "rota.db") as live:
        port = live.url.rsplit(":", 1)[1]
        env = environment(folder, live.url)
        module = None
        if block.lang in PYTHONS and name is not None and not name.startswith("test_"):
            module = name.removesuffix(".py")
            (folder / name).write_text(block.text.replace(":8077", f":{port}"), encoding="utf-8")
        worker = start_worker(live, folder, env, module, db_folder / "worker.log")
        try:
            if block.lang in PYTHONS:
                assert name is not None
                command = [sys.executable, name]
                if name.startswith("test_"):
                    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
            else:
                command = ["bash", "-euo", "pipefail", "-c", shell_text(block, port)]
            done = subprocess.run(
                command,
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_S,
            )
        finally:
            stop(worker)
        if done.returncode != 0:
            log = (db_folder / "worker.log").read_text(errors="replace")[-2000:]
            pytest.fail(
                f"{block.where} ({block.lang}) exited {done.returncode}\n"
                f"--- block ---\n{block.text}--- stdout ---\n{done.stdout[-3000:]}\n"
                f"--- stderr ---\n{done.stderr[-3000:]}\n--- worker log ---\n{log}"
            )


def shell_text(block: Block, port: str) -> str:
    """Return the commands of a shell block (a console block's `$ ` lines), on our port."""
    text = block.text
    if block.lang == "console":
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
    return text.replace(":8077", f":{port}")


def environment(folder: Path, url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROTA_")}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["PYTHONPATH"] = str(folder)
    env["ROTA_SERVER"] = url
    return env


def start_worker(
    live: LiveServer, folder: Path, env: dict[str, str], module: str | None, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `rota worker` (importing the block's module, if any); return it once online."""
    command = [str(BIN / "rota"), "worker", "--server", live.url, "--name", "docs-worker"]
    if module is not None:
        command += ["--import", module]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + WORKER_START_S
    while not any(
        worker.name == "docs-worker" and worker.state == "online"
        for worker in live.run(live.store.list_workers())
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(
                f"the worker (importing {module}) did not come online:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_readme_example_without_a_server_says_so_in_one_line(tmp_path: Path) -> None:
    [example] = [block for block in blocks_of(ROOT / "README.md") if block.file_name == "mymod.py"]
    port = free_port()  # nothing listens there
    (tmp_path / "mymod.py").write_text(example.text.replace(":8077", f":{port}"), "utf-8")
    done = subprocess.run(
        [sys.executable, "mymod.py"],
        cwd=tmp_path,
        env=environment(tmp_path, f"http://127.0.0.1:{port}"),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"mymod: cannot reach the Rota server at http://127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1, done.stderr
