"""The API answers a transition from the route as the transition left it, without reading it again:
the answer must be exactly what reading the route afterwards gives."""
from sqlalchemy import event

from models import db
from test_api import ApiClient


def _statements_during(app, call):
    with app.app_context():
        engine = db.engine
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def test_transition_answer_equals_the_route_read_afterwards(app, client, district):
    api = ApiClient(client)
    route_id = district.route(state="in_progress", activities=2).id
    db.session.close()
    version = api.get(f"/routes/{route_id}", "teacher").json["version"]
    for trigger, login, comment in [("submit_reflection", "teacher", ""),
                                    ("return_reflection", "curator", "Дополните выводы"),
                                    ("submit_reflection", "teacher", "")]:
        if trigger == "submit_reflection":
            body = api.get(f"/routes/{route_id}", "teacher").json
            for activity in body["activities"]:
                if activity["status"] == "planned":
                    response = api.post(f"/routes/{route_id}/activities/{activity['id']}/result", "teacher",
                                        json={"status": "done", "product": "Конспект урока",
                                              "version": body["version"]})
                    assert response.status_code == 200, response.json
                    body = response.json if "activities" in response.json else api.get(
                        f"/routes/{route_id}", "teacher").json
            response = api.patch(f"/routes/{route_id}", "teacher",
                                 json={"reflection": "Маршрут выполнен", "version": body["version"]})
            assert response.status_code == 200, response.json
            version = response.json["version"]
        answer = api.fire(route_id, trigger, login, comment=comment, version=version)
        assert answer.status_code == 200, answer.json
        read = api.get(f"/routes/{route_id}", login)
        assert answer.json == read.json
        assert answer.json["history"][-1]["event"] == trigger
        assert answer.json["history"][-1]["actor"]["login"] == login
        version = answer.json["version"]


def test_transition_reads_the_token_and_its_user_in_one_statement(app, client, district):
    api = ApiClient(client)
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    api.token("curator")
    db.session.close()
    response, statements = _statements_during(app, lambda: api.fire(route_id, "approve", "curator",
                                                                     version=version))
    assert response.status_code == 200, response.json
    token_reads = [s for s in statements if "FROM api_tokens" in s]
    assert len(token_reads) == 1 and "JOIN users" in token_reads[0]
    assert not [s for s in statements if s.startswith("SELECT users.") and "FROM users WHERE users.id" in s]
