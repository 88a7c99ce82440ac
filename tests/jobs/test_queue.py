"""`wikismith.jobs` below HTTP: the file store (records, event logs, the claim) and the queue's restart rules,
over a scripted model (the HTTP tests in tests/server/test_jobs*.py run it against the provider emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.router.conftest import write_config
from tests.support.embedders import HashEmbedder
from tests.support.scripted import ScriptedModel, answer
from tests.wiki.conftest import REPO_FILES, router_over
from tests.wiki.test_generator import STRUCTURE
from wikismith.config.models import AppConfig
from wikismith.config.settings import Settings
from wikismith.jobs import FileJobStore, Job, JobContext, JobEvent, JobQueue, JobSpec, StoreBusy, WikiRef
from wikismith.wiki.store import WikiStore

TOKEN = "tok-SECRET-queue-5e1d"


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    repo = tmp_path / "repos" / "calcpkg"
    for name, text in REPO_FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    return tmp_path / "repos"


@pytest.fixture
def settings(tmp_path: Path, roots: Path) -> Settings:
    return Settings.from_env({"WIKISMITH_HOME": str(tmp_path / "home"), "WIKISMITH_LOCAL_ROOTS": str(roots)})


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    return write_config(tmp_path / "config", {"s": {}})


def context(settings: Settings, config: AppConfig, model: ScriptedModel) -> JobContext:
    wikis = WikiStore(settings.data.wikicache)
    return JobContext(router_over(config, model), settings, config, wikis, embedder=HashEmbedder)


def record(job_id: str, state: str, **fields: object) -> Job:
    wiki = WikiRef(owner="local", repo="calcpkg", repo_type="local", language="en", comprehensive=False)
    spec = JobSpec(repo=str(fields.pop("repo", "/nowhere")))
    return Job.model_validate(
        {"id": job_id, "key": f"k-{job_id}", "spec": spec, "model_name": "s/m", "wiki": wiki, "state": state, **fields}
    )


async def test_the_store_keeps_records_and_events_and_drops_a_line_cut_short(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path / "jobs")
    assert await store.load() == []
    job = record("0123456789abcdef", "running", uses_token=True)
    events = [JobEvent.of(job, seq, "stage", message=f"step {seq}") for seq in (1, 2, 3)]
    await store.save(job, events[:2])
    await store.save(job, events[2:])
    with (tmp_path / "jobs" / "0123456789abcdef.events.jsonl").open("ab") as log:
        log.write(b'{"seq": 4, "kind": "sta')  # a crash in the middle of a write
    await store.close()
    (loaded, replayed), *rest = await FileJobStore(tmp_path / "jobs").load()
    assert rest == [] and loaded == job and replayed == events


async def test_a_second_store_on_the_same_directory_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = FileJobStore(tmp_path / "jobs")
    await first.load()
    with pytest.raises(StoreBusy, match="another wikismith server"):
        await FileJobStore(tmp_path / "jobs").load()
    await first.close()
    assert await FileJobStore(tmp_path / "jobs").load() == []


async def test_a_spec_never_dumps_its_token() -> None:
    spec = JobSpec(repo="https://github.com/o/r", token=SecretStr(TOKEN))
    assert TOKEN not in spec.model_dump_json() and TOKEN not in repr(spec)
    assert "token" not in spec.model_dump()
    assert JobSpec(repo="x", excluded_dirs="a\nb,c").excluded_dirs == ["a", "b", "c"]  # DeepWiki's form too


async def test_a_job_interrupted_three_times_is_not_resumed_by_itself(
    settings: Settings, config: AppConfig, roots: Path
) -> None:
    store = FileJobStore(settings.data.jobs)
    repo = str(roots / "calcpkg")
    await store.save(record("00000000000000a1", "running", repo=repo, interruptions=2), [])
    await store.save(record("00000000000000a2", "running", repo=repo, uses_token=True), [])
    await store.close()
    model = ScriptedModel()
    async with JobQueue(context(settings, config, model), FileJobStore(settings.data.jobs)) as queue:
        jobs = {job.id: job for job in queue.list()}
        assert [j.state for j in jobs.values()] == ["interrupted", "interrupted"]
        assert "interrupted 3 times" in (jobs["00000000000000a1"].error or "")
        assert "resume the job with the token" in (jobs["00000000000000a2"].error or "")
        kinds = [e.kind async for e in queue.events("00000000000000a1")]
    assert kinds == ["interrupted"] and model.requests == []


async def test_a_job_runs_through_the_queue_and_its_events_replay_after_a_restart(
    settings: Settings, config: AppConfig, roots: Path
) -> None:
    model = ScriptedModel(default=answer("# A page\n\nText."))
    model.add("m", *answer(STRUCTURE))
    async with JobQueue(context(settings, config, model), FileJobStore(settings.data.jobs)) as queue:
        job, existing = await queue.start(JobSpec(repo=str(roots / "calcpkg")))
        live = [e async for e in queue.events(job.id)]
    assert not existing and live[-1].kind == "finished" and live[-1].done == 3
    async with JobQueue(context(settings, config, model), FileJobStore(settings.data.jobs)) as queue:
        assert [e async for e in queue.events(job.id)] == live
        assert [e async for e in queue.events(job.id, after=len(live) - 2)] == live[-2:]
        stored = queue.get(job.id)
    assert stored is not None and stored.state == "done" and stored.done == 3 and stored.stage is None
