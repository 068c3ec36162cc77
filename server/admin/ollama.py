"""Admin commands for the local Ollama: ``ollama ls|rm|pull|cancel``."""

from __future__ import annotations

from urllib.parse import quote

import click

from server.admin.client import AdminClient, AdminError
from server.admin.command import connection_options, echo_or_json, json_option, run, seg
from server.admin.output import print_json, print_table, size

# -- ollama -----------------------------------------------------------------------


@click.group()
@connection_options
def ollama() -> None:
    """The local Ollama: installed models, deletes, pulls with live progress."""


def _ollama_path(name: str) -> str:
    # Names may hold '/' (hf.co/user/repo:tag); the route takes them as they are.
    return quote(name, safe="/:")


@ollama.command("ls")
@connection_options
@json_option
def ollama_ls(as_json: bool) -> None:
    """List the models Ollama has installed."""

    async def command(api: AdminClient) -> None:
        listing = await api.get("/api/ollama/models")
        if as_json:
            return print_json(listing)
        rows = []
        for m in listing["models"]:
            details = m.get("details") or {}
            rows.append(
                (
                    m.get("model") or m.get("name"),
                    size(m.get("size")),
                    details.get("parameterSize"),
                    details.get("quantizationLevel"),
                    m.get("modifiedAt"),
                )
            )
        print_table(("NAME", "SIZE", "PARAMS", "QUANT", "MODIFIED"), rows)
        click.echo(f"{listing['total']} model(s), {size(listing['totalSize'])}")

    run(command)


@ollama.command("rm")
@click.argument("name")
@connection_options
@json_option
def ollama_rm(name: str, as_json: bool) -> None:
    """Delete an installed model (NAME keeps its tag: llama3.2:3b)."""

    async def command(api: AdminClient) -> None:
        result = await api.delete(f"/api/ollama/models/{_ollama_path(name)}")
        echo_or_json(as_json, result, f"deleted {result.get('model', name)}")

    run(command)


@ollama.command("pull")
@click.argument("model")
@connection_options
@json_option
def ollama_pull(model: str, as_json: bool) -> None:
    """Pull MODEL (e.g. llama3.2:3b) and follow it until it ends.

    A progress bar with speed and ETA on a terminal, plain lines otherwise (--json:
    one JSON line per update). Exits 0 once the model is installed, 1 if the pull
    fails or is cancelled. Ctrl-C asks whether to cancel the job (only on a terminal;
    otherwise the job goes on and the command says how to cancel it).
    """
    from server.admin.progress import pull

    run(lambda api: pull(api, model, as_json=as_json))


@ollama.command("cancel")
@click.argument("job_or_model", metavar="JOB|MODEL")
@connection_options
@json_option
def ollama_cancel(job_or_model: str, as_json: bool) -> None:
    """Cancel a pull, by job id or by model name."""

    async def command(api: AdminClient) -> None:
        job_id = job_or_model
        if not _looks_like_job_id(job_or_model):
            jobs = (await api.get("/api/ollama/pulls", params={"model": job_or_model}))["jobs"]
            active = [j for j in jobs if j["status"] in ("queued", "downloading", "verifying")]
            if not active:
                raise AdminError(f"no pull of {job_or_model} is running")
            job_id = active[0]["id"]
        job = await api.delete(f"/api/ollama/pulls/{seg(job_id)}")
        echo_or_json(as_json, job, f"cancelled the pull of {job['model']} (job {job['id']})")

    run(command)


def _looks_like_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
