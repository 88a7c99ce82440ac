"""A generation job in the browser (`wikismith.jobs` through the API's queue): `/jobs/<id>` shows its state and,
with JavaScript, follows its progress live (`/api/jobs/<id>/events`), offers cancel and retry (resume), and
opens the wiki when it is done. `POST /jobs/new` is the new-wiki form without JavaScript (with it, the form
posts JSON to `/api/jobs` itself): it starts the job and shows its page."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from wikismith.jobs import JOB_ID, Job, JobConflict, JobRejected, JobSpec
from wikismith.server.deps import read_body, state
from wikismith.server.errors import HTTPProblem
from wikismith.server.routes.jobs import queue
from wikismith.server.web.pages import same_origin
from wikismith.server.web.views import PageProblem, problem_page, view
from wikismith.server.web.wikis import Variant, WikiKey

router = APIRouter(include_in_schema=False)
_LISTS = ("excluded_dirs", "excluded_files", "included_dirs", "included_files")


def wiki_url(job: Job) -> str:
    wiki = job.wiki
    return WikiKey(wiki.repo_type, wiki.owner, wiki.repo).path + Variant(wiki.language, wiki.comprehensive).query()


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    server = state(request)
    try:
        job = queue(server).get(job_id) if JOB_ID.fullmatch(job_id) else None
    except HTTPProblem as problem:
        return problem_page(request, PageProblem(problem.status, "Jobs unavailable", problem.message))
    if job is None:
        return problem_page(request, PageProblem(404, "No such job", f"There is no job {job_id[:80]!r}."))
    needs = bool(server.auth.keys) or server.auth.code_required
    return view(request, "job.html", nav="home", job=job, wiki_url=wiki_url(job), needs_credential=needs)


def spec_of(form: dict[str, str]) -> JobSpec:
    """The new-wiki form's fields as a JobSpec (ValidationError for bad values)."""
    body: dict[str, object] = {"repo": form.get("repo", ""), "comprehensive": form.get("comprehensive") == "true"}
    body["model"] = form.get("custom_model", "").strip() or form.get("model") or None
    for name in ("ref", "language", "token"):
        if form.get(name, "").strip():
            body[name] = form[name]
    for name in _LISTS:
        if form.get(name, "").strip():
            body[name] = form[name]
    return JobSpec.model_validate(body)


@router.post("/jobs/new")
async def new_job(request: Request) -> Response:
    same_origin(request)
    server = state(request)
    raw = (await read_body(request)).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    try:
        server.auth.write(request.headers, form.get("authorization_code"))
        job, _ = await queue(server).start(spec_of(form))
    except HTTPProblem as problem:
        return problem_page(request, PageProblem(problem.status, "Not started", problem.message))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return problem_page(request, PageProblem(422, "Not started", f"{where}: {first['msg']}"))
    except JobRejected as exc:
        return problem_page(request, PageProblem(404 if exc.missing else 400, "Not started", str(exc)))
    except JobConflict as exc:
        return problem_page(request, PageProblem(409, "Not started", str(exc)))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
