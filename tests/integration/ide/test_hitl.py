"""Human in the loop in the IDE, on the real path: a waiting ApprovalOperator appears in the
DAGs page's "Required actions" list, its task panel shows the form, and answering there
resumes the task (Reject skips the downstream tasks)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

from leoflow.engine.compiler.compile import load_project_config
from leoflow.engine.services.hitl import HitlNotFound
from leoflow.ide.hitl import hitl_service
from tests.integration.ide.conftest import Ide, wait_for
from tests.integration.ide.test_runs import wait_run

PROJECT = Path(__file__).resolve().parents[2] / "e2e" / "projects" / "hitl"


async def test_required_actions_list_and_the_task_panel_form_answer(ide: Ide) -> None:
    shutil.copytree(PROJECT, ide.workspace / "hitl")
    config = load_project_config(PROJECT)
    await ide.plane.environments.ensure(config.dag_id, config.python_version,
                                        config.dependencies)
    await ide.register("hitl")
    await ide.plane.operations.set_paused("hitl_reject", False)
    run = await ide.plane.operations.trigger_run("hitl_reject", triggered_by="test")
    service = hitl_service(ide.plane.services)

    async def waiting() -> bool:
        try:
            detail = await service.get_detail(tenant="default", dag_id="hitl_reject",
                                              run_id=run.run_id, task_id="gate")
        except HitlNotFound:
            return False
        return detail.task_instance.state == "awaiting_input"

    await wait_for(waiting, 90, "the gate to wait for a person")
    await ide.login()
    await ide.see("Required actions (1)")
    await ide.element("required-action-hitl_reject-gate")

    await ide.user.open(f"/dags/hitl_reject?run_id={quote(run.run_id)}&task_id=gate")
    await ide.element("ti-hitl")
    await ide.see("Ship it?")
    options = await ide.element("hitl-options")
    options.value = "Reject"
    (await ide.find("hitl-submit")).click()
    assert await wait_run(ide, "hitl_reject") == "success"
    detail = await service.get_detail(tenant="default", dag_id="hitl_reject",
                                      run_id=run.run_id, task_id="gate")
    assert detail.request.chosen_options == ["Reject"]
    assert detail.request.responded_by_user_name == "admin"
    await ide.see("Answered ['Reject'] by admin")
