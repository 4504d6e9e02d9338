"""The clinician review page (`clinreason review RUN`): FastAPI on 127.0.0.1, one HTML page, SQLite.

GET  /                      the page (a rater enters their name, then rates one patient at a time)
GET  /api/next?rater=NAME   the rater's next patient: record text and rationales A, B, ... (no names)
POST /api/rate              {"rater", "record_id", "ratings": {"A": {criterion: 1-5}}, "comments": {"A": ""}}
GET  /api/export.json, /api/export.csv   every rating (with the models' names, for the analyst)
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from clinreason.judge.review import (
    SLOTS,
    ReviewError,
    ReviewPatient,
    ReviewStore,
    next_patient,
    record_ratings,
    shown_order,
    write_ratings_csv,
)
from clinreason.judge.rubric import Rubric

__all__ = ["create_review_app"]


class RateRequest(BaseModel):
    rater: str = Field(min_length=1, max_length=80)
    record_id: str
    ratings: dict[str, dict[str, int]]
    comments: dict[str, str] = Field(default_factory=dict)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clinreason review: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }}
pre {{ white-space: pre-wrap; background: #f5f5f5; padding: .6rem; }}
.rationale {{ border: 1px solid #ccc; padding: .6rem; margin: .8rem 0; }}
fieldset {{ border: none; padding: .1rem 0; }} legend {{ font-weight: 600; }}
#status {{ color: #555; }}
</style></head><body>
<h1>Rationale review</h1>
<p>Rubric <b>{rubric}</b>. Rate each rationale on every criterion (1 = worst, 5 = best); the models' names
are hidden and the order is shuffled. Every submitted patient is saved at once.</p>
<details><summary>The rubric</summary><pre>{rubric_text}</pre></details>
<form id="who"><label>Your name <input id="rater" name="rater" required></label>
<button type="submit" id="start">Start</button></form>
<p id="status"></p>
<form id="rate" hidden><h2 id="patient-title"></h2><pre id="patient"></pre><div id="rationales"></div>
<button type="submit" id="submit">Save and next patient</button></form>
<script>
const criteria = {criteria};
let rater = null, current = null;
const status = (text) => document.getElementById("status").textContent = text;
async function next() {{
  const reply = await fetch("/api/next?rater=" + encodeURIComponent(rater));
  const body = await reply.json();
  const form = document.getElementById("rate");
  if (body.done) {{ form.hidden = true; status("All " + body.total + " patients rated. Thank you."); return; }}
  current = body;
  status("Patient " + (body.index + 1) + " of " + body.total + " (rater " + rater + ")");
  document.getElementById("patient-title").textContent = "Patient " + body.record_id;
  document.getElementById("patient").textContent = body.patient;
  const box = document.getElementById("rationales"); box.innerHTML = "";
  for (const r of body.rationales) {{
    const div = document.createElement("div"); div.className = "rationale";
    div.innerHTML = "<h3>Rationale " + r.slot + "</h3>";
    const text = document.createElement("pre"); text.textContent = r.text; div.appendChild(text);
    for (const c of criteria) {{
      const set = document.createElement("fieldset");
      set.innerHTML = "<legend>" + c + "</legend>" + [1,2,3,4,5].map(s => '<label><input type="radio" required name="'
        + r.slot + '-' + c + '" value="' + s + '"> ' + s + '</label>').join(" ");
      div.appendChild(set);
    }}
    const note = document.createElement("textarea");
    note.name = r.slot + "-comment"; note.placeholder = "Comment (optional)";
    div.appendChild(note); box.appendChild(div);
  }}
  form.hidden = false;
}}
document.getElementById("who").addEventListener("submit", (e) => {{
  e.preventDefault(); rater = document.getElementById("rater").value.trim(); if (rater) next();
}});
document.getElementById("rate").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const data = new FormData(e.target), ratings = {{}}, comments = {{}};
  for (const r of current.rationales) {{
    ratings[r.slot] = {{}};
    for (const c of criteria) ratings[r.slot][c] = parseInt(data.get(r.slot + "-" + c));
    comments[r.slot] = data.get(r.slot + "-comment") || "";
  }}
  const reply = await fetch("/api/rate", {{method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{rater, record_id: current.record_id, ratings, comments}})}});
  if (!reply.ok) {{ status("Not saved: " + (await reply.text())); return; }}
  next();
}});
</script></body></html>
"""


def create_review_app(
    store: ReviewStore, rubric: Rubric, patients: Sequence[ReviewPatient], title: str = "", seed: int = 0
) -> FastAPI:
    app = FastAPI(title="clinreason review", docs_url=None, redoc_url=None)
    by_id = {p.record_id: p for p in patients}
    page = PAGE.format(
        title=html.escape(title),
        rubric=html.escape(f"{rubric.title} (v{rubric.version})"),
        rubric_text=html.escape(rubric.text()),
        criteria=json.dumps(rubric.names),
    )

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/next")
    def next_one(rater: str) -> JSONResponse:
        index = next_patient(store, rater, patients)
        if index is None:
            return JSONResponse({"done": True, "total": len(patients)})
        patient = patients[index]
        shown = shown_order(rater, patient, seed)
        return JSONResponse(
            {
                "done": False,
                "index": index,
                "total": len(patients),
                "record_id": patient.record_id,
                "patient": patient.patient,
                "rationales": [{"slot": SLOTS[i], "text": item.rationale} for i, item in enumerate(shown)],
            }
        )

    @app.post("/api/rate")
    def rate(body: RateRequest) -> JSONResponse:
        patient = by_id.get(body.record_id)
        if patient is None:
            return JSONResponse({"detail": f"unknown patient {body.record_id!r}"}, status_code=422)
        try:
            record_ratings(store, rubric, body.rater, patient, body.ratings, body.comments, seed)
        except ReviewError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return JSONResponse({"saved": len(body.ratings)})

    @app.get("/api/export.json")
    def export_json() -> JSONResponse:
        return JSONResponse(store.rows())

    @app.get("/api/export.csv", response_class=PlainTextResponse)
    def export_csv() -> str:
        out = io.StringIO()
        write_ratings_csv(store.rows(), rubric, out)
        return out.getvalue()

    return app
