"""openapi/openapi.json is usable: a Python client generated from it with
openapi-python-client (failing on any warning) logs in, registers a child, updates its
schooling, reads the worklist, logs a visit (and replays it), files a report, looks the child
up, dry-runs an import, reads the child, the worklist and the report lists, against the real
app served by uvicorn on a local port.

The download of an agreement scan answers image/jpeg, image/png or application/pdf, which
the generator does not map by itself: its config maps them to bytes, as a client would."""

from __future__ import annotations

import importlib
import io
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn

from childprotect_api.main import create_app
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.services.children import id_numbers
from tests.conftest import TEST_PASSWORD, VILLAGE

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openapi.json"
PACKAGE = "childprotect_generated_client"
CONFIG = """\
post_hooks: []
content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  application/pdf: application/octet-stream
"""


def _generator() -> str:
    """The one installed beside this interpreter (the project's test extras), else PATH's."""
    beside = Path(sys.executable).parent / "openapi-python-client"
    exe = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    if exe is None:
        pytest.fail("openapi-python-client is not installed (pip install -e '.[test]')")
    return exe


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[ModuleType]:
    config = tmp_path / "openapi-python-client.yml"
    config.write_text(CONFIG)
    out = tmp_path / PACKAGE
    cmd = [_generator(), "generate", "--path", str(SPEC), "--output-path", str(out)]
    cmd += ["--meta", "none", "--config", str(config), "--fail-on-warning"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, f"generation failed:\n{done.stdout}\n{done.stderr}"
    sys.path.insert(0, str(tmp_path))
    try:
        pkg = importlib.import_module(PACKAGE)
        for sub in ("models", "types"):
            importlib.import_module(f"{PACKAGE}.{sub}")
        yield pkg
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def server(settings, world) -> Iterator[str]:  # world: seeded (and committed) before start
    """The real app (its lifespan makes its own engine) on a free local port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _api(pkg: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{pkg.__name__}.api.{name}")


async def _login(pkg: ModuleType, base: str, username: str) -> Any:
    from_token = _api(pkg, "auth.create_token")
    models = pkg.models
    async with pkg.Client(base_url=base, raise_on_unexpected_status=True) as anon:
        token = await from_token.asyncio(
            client=anon,
            body=models.CreateTokenForm(
                grant_type="password", username=username, password=TEST_PASSWORD
            ),
        )
    assert isinstance(token, models.TokenResponse), token
    assert token.token_type.lower() == "bearer" and token.expires_in > 0
    return pkg.AuthenticatedClient(
        base_url=base, token=token.access_token, raise_on_unexpected_status=True
    )


async def _worklist(pkg: ModuleType, client: Any) -> Any:
    work = await _api(pkg, "worklist.get_worklist").asyncio_detailed(client=client)
    assert work.status_code == 200, work.content
    assert isinstance(work.parsed, pkg.models.Worklist), work.parsed
    assert isinstance(work.parsed.counts, pkg.models.WorklistCounts)
    assert all(isinstance(i, pkg.models.WorklistItem) for i in work.parsed.items)
    return work.parsed


async def test_generated_client_round_trip(generated, server):
    pkg, base = generated, server
    m = pkg.models
    born = date(2016, 5, 20)
    number = id_numbers.make("620722", born, 77, "female")
    async with await _login(pkg, base, "director") as director:
        me = await _api(pkg, "auth.get_me").asyncio(client=director)
        assert me.username == "director" and me.area_code == VILLAGE

        child = await _api(pkg, "children.create_child").asyncio(
            client=director,
            body=m.ChildCreate(
                id=uuid.uuid4(),
                area_code=VILLAGE,
                name="李小花",
                gender=m.Gender.FEMALE,
                birth_date=born,
                id_number=number,
                categories=[m.Category.LEFT_BEHIND],
                father=m.ParentInfo(situation=m.ParentSituation.WORKING_AWAY, work_place="宁波"),
            ),
        )
        assert isinstance(child, m.ChildRead), child
        assert child.id_number == id_numbers.mask(number) and child.version == 1

        schooling = await _api(pkg, "children.set_child_schooling").asyncio(
            child.id,
            client=director,
            if_match=f'"{child.version}"',
            body=m.ChildSchoolingSet(
                enrolment_status=m.EnrolmentStatus.DROPPED_OUT, school="洪水镇中心小学"
            ),
        )
        assert isinstance(schooling, m.ChildSchoolingRead), schooling
        assert schooling.categories_changed is True

        # Dropping out brings the next visit to now: the child is on the worklist.
        before = await _api(pkg, "children.get_child").asyncio(child.id, client=director)
        assert isinstance(before, m.ChildRead), before
        assert before.last_visit_at is None and before.next_visit_due is not None
        assert before.next_visit_due <= datetime.now(UTC)
        work = await _worklist(pkg, director)
        listed = {i.child.id: i for i in work.items}
        assert child.id in listed and listed[child.id].latest_visit_id is None
        assert listed[child.id].next_visit_due == before.next_visit_due
        assert work.counts.overdue + work.counts.due_soon >= 1

        visit_id = uuid.uuid4()
        visited_at = datetime.now(UTC)
        entry = m.VisitChecklistEntry
        good = m.Rating.GOOD
        visit_body = m.VisitCreate(
            child_id=child.id,
            visited_at=visited_at,
            kind=m.VisitKind.HOME,
            latitude=38.43,
            longitude=100.81,
            accuracy_m=12.5,
            checklist=m.VisitChecklist(
                living_conditions=entry(rating=good),
                health=entry(rating=good),
                schooling=entry(rating=m.Rating.POOR, note="已辍学两周"),
                guardian_present=m.GuardianPresentEntry(present=False),
                caregiver_capacity=entry(rating=good),
                safety_hazards=entry(rating=good),
                emotional_state=entry(rating=m.Rating.FAIR, note="想念在外打工的妈妈"),
            ),
            notes="孩子在家，奶奶身体尚可。",
            suggested_risk_level=m.RiskLevel.ORANGE,
            follow_up_actions=[
                m.FollowUpAction(action="联系学校劝返", due_on=visited_at.date() + timedelta(7))
            ],
        )
        create_visit = _api(pkg, "visits.create_visit")
        logged = await create_visit.asyncio_detailed(visit_id, client=director, body=visit_body)
        assert logged.status_code == 201, logged.content
        visit = logged.parsed
        assert isinstance(visit, m.VisitRead), visit
        assert visit.id == visit_id and visit.child_id == child.id and visit.revision == 1
        assert visit.visited_at == visited_at and visit.status == m.VisitStatus.SUBMITTED
        assert visit.checklist.schooling.rating == m.Rating.POOR
        assert visit.checklist.guardian_present.present is False
        replay = await create_visit.asyncio_detailed(visit_id, client=director, body=visit_body)
        assert replay.status_code == 200 and replay.parsed.id == visit_id

        # The visit moved the child's last visit and, from it, the next due date.
        after = await _api(pkg, "children.get_child").asyncio(child.id, client=director)
        assert isinstance(after, m.ChildRead), after
        assert after.last_visit_at == visited_at
        interval = timedelta(days=DEFAULT_INTERVAL_DAYS[after.risk_level.value])
        assert after.next_visit_due == visited_at + interval
        assert after.next_visit_due > before.next_visit_due
        work = await _worklist(pkg, director)
        due_by = work.as_of + timedelta(days=work.within_days)
        assert (child.id in {i.child.id for i in work.items}) == (after.next_visit_due <= due_by)

        report = await _api(pkg, "reports.create_report").asyncio(
            client=director,
            body=m.ReportCreate(
                situation=m.ReportSituation.ABANDONED_OR_NO_CARE,
                description="孩子独自在家多日无人照料",
                occurred_at=datetime.now(UTC),
                reporter_sector=m.ReporterSector.VILLAGE_COMMITTEE,
                child_id=child.id,
            ),
        )
        assert isinstance(report, m.FiledReportRead), report

        found = await _api(pkg, "children.lookup_child").asyncio(
            client=director, body=m.ChildLookup(id_number=number)
        )
        assert isinstance(found, m.ChildLookupRead) and found.id == child.id

        upload = pkg.types.File(
            payload=io.BytesIO(
                "姓名,性别,出生日期,村代码\n王小明,男,2015-03-14,620722100001\n".encode()
            ),
            file_name="摸排.csv",
            mime_type="text/csv",
        )
        dry = await _api(pkg, "children.import_children").asyncio(
            client=director, body=m.ImportChildrenForm(file=upload), dry_run=True
        )
        assert isinstance(dry, m.ChildImportReport), dry
        assert dry.dry_run is True and dry.created == 1

        read = await _api(pkg, "children.get_child").asyncio(child.id, client=director)
        assert isinstance(read, m.ChildRead)
        assert read.risk_level == m.RiskLevel.RED  # the report raised it
        assert m.Category.DROPOUT_RISK in read.categories

        # The report raised the child to red: due a day after the visit, on the worklist.
        assert read.last_visit_at == visited_at
        assert read.next_visit_due == visited_at + timedelta(days=DEFAULT_INTERVAL_DAYS["red"])
        work = await _worklist(pkg, director)
        listed = {i.child.id: i for i in work.items}
        assert child.id in listed, [i.child.id for i in work.items]
        item = listed[child.id]
        assert item.child.risk_level == m.RiskLevel.RED and item.child.area_code == VILLAGE
        assert item.latest_visit_id == visit_id and item.last_visit_at == visited_at
        assert item.next_visit_due == read.next_visit_due and item.overdue is False
        assert [a.action for a in item.open_follow_ups] == ["联系学校劝返"]
        assert work.returned_visits == []

        mine = await _api(pkg, "reports.list_my_reports").asyncio(client=director)
        assert [r.id for r in mine.items] == [report.id]

        missing = await _api(pkg, "children.get_child").asyncio_detailed(
            uuid.uuid4(), client=director
        )
        assert missing.status_code == 404 and missing.parsed.code == "not_found"

    async with await _login(pkg, base, "officer") as officer:
        page = await _api(pkg, "reports.list_reports").asyncio(client=officer)
        assert [r.id for r in page.items] == [report.id]
        assert page.items[0].child_id == child.id
