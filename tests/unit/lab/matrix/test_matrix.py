"""The compatibility matrix's pure parts: its lab spec, the rows it judges, the page it writes."""

import json

import pytest

from lab import mxlab
from lab.matrix import matrix

ADDRESSES = {mta: ["198.51.100.%d" % (41 + n), "2001:db8:de::%d" % (41 + n)] for n, mta in enumerate(matrix.MTAS)}


def batches(seconds_by_mta, host="mx1"):
    return {mta: [{"tag": "%s-%d" % (mta, n), "host": host if value is not None else None, "seconds": value}
                  for n, value in enumerate(seconds_by_mta.get(mta, [0.5, 0.6, 1.0]))] for mta in matrix.MTAS}


def test_the_lab_is_the_demo_lab_plus_one_host_per_mta():
    lab = mxlab.parse_spec(matrix.lab_spec())
    names = [host.name for host in lab.hosts]
    assert names[-5:] == list(matrix.MTAS) and "mx1" in names and "bot" in names
    # qmail lives in /var/qmail (the host's private /var): only the Debian packages need a private /usr.
    assert [host.private_usr for host in lab.hosts[-5:]] == [False, True, True, True, False]


def test_without_qmail_the_lab_has_no_qmail_host():
    names = [host.name for host in mxlab.parse_spec(matrix.lab_spec(("postfix", "exim", "opensmtpd", "sendmail"))).hosts]
    assert "qmail" not in names and names[-4:] == ["postfix", "exim", "opensmtpd", "sendmail"]


def test_every_mta_has_its_queue_commands_and_a_name():
    for table in (matrix.QUEUE_RUN, matrix.QUEUE_FLUSH, matrix.QUEUE_SIZE, matrix.PRODUCT):
        assert sorted(table) == sorted(matrix.MTAS)


def test_a_batch_delivered_in_time_via_the_expected_mx_is_ok():
    rows = matrix.summarise(batches({}), [], "mx1", ADDRESSES)
    assert [row["ok"] for row in rows] == [True] * 5
    assert rows[0] == {"mta": "postfix", "sent": 3, "delivered": 3, "via": ["mx1"], "median": 0.6, "max": 1.0,
                       "trap_hits": [], "ok": True}


@pytest.mark.parametrize("case", ["lost", "dropped", "trap", "wrong mx"])
def test_what_fails_a_row(case):
    # 30.2 s: what a dropping dead primary costs Postfix for one address.
    seconds = {"exim": [0.5, None, 0.7]} if case == "lost" else {"exim": [0.5, 30.2, 0.7]} if case == "dropped" else {}
    trapped = [ADDRESSES["exim"][1]] if case == "trap" else []
    rows = {row["mta"]: row for row in matrix.summarise(batches(seconds), trapped, "mx2" if case == "wrong mx" else "mx1", ADDRESSES)}
    assert rows["exim"]["ok"] is False
    assert rows["postfix"]["ok"] is (case != "wrong mx")


def test_a_slow_machine_does_not_fail_a_row():
    # OpenSMTPD behind a reset with the primary down takes ~8 s; a busy machine may double it.
    rows = matrix.summarise(batches({"opensmtpd": [8.1, 16.4]}), [], "mx1", ADDRESSES)
    assert rows[2]["ok"] is True


def test_the_bound_tells_a_reset_from_a_drop_with_a_wide_margin():
    reset_with_primary_down = 8.15  # the slowest reset figure in docs/compatibility.md (OpenSMTPD)
    postfix_drop_one_address = 30.0  # smtp_connect_timeout
    assert 2 * reset_with_primary_down < matrix.MAX_DELAY < postfix_drop_one_address


def test_the_delay_limit_is_a_parameter():
    rows = matrix.summarise(batches({"exim": [269.9]}), [], "mx1", ADDRESSES, max_delay=float("inf"))
    assert rows[1]["ok"] is True


def results():
    rows = matrix.summarise(batches({}), [], "mx1", ADDRESSES)
    crude = [{"client": "swaks --server <lowest MX>", "outcome": "refused", "expected": "refused", "ok": True, "detail": "refused"},
             {"client": "allowlisted partner", "outcome": "failed", "expected": "delivered", "ok": False, "detail": "RESULT failed | x"}]
    variant = {"variant": "reset", "count": 3, "crude": crude,
               "scenarios": [{"scenario": "primary up", "expected_via": "mx1", "rows": rows}]}
    return {"date": "2026-11-24", "versions": {mta: "1.0" for mta in matrix.MTAS}, "variants": [variant]}


def test_problems_name_the_variant_and_what_failed():
    assert matrix.problems(results()) == ["reset: allowlisted partner: failed, expected delivered"]


def test_problems_of_the_drop_variant_never_fail_the_run():
    dropped = results()
    dropped["variants"][0]["variant"] = "drop"
    assert matrix.problems(dropped) == []


def test_the_page_holds_versions_and_a_row_per_mta():
    page = matrix.render_docs(results())
    assert page.startswith("# Compatibility: real MTAs through the hardened layout\n")
    assert "| Exim | 1.0 |" in page
    assert "### Primary up (expected via mx1), 3 message(s) per MTA" in page
    assert "| OpenSMTPD | 3 / 3 | mx1 | 0.60 | 1.00 | none |" in page
    assert "| allowlisted partner | failed | NO (expected delivered) | RESULT failed / x |" in page


def test_the_page_sums_up_each_variant():
    page = matrix.render_docs(results())
    assert "Delivered 15 of 15 messages; the slowest took 1.00 s (" in page


def walk(kind="4xx", hits=None, delivered=3, bot_recorded=True):
    rows = [{"mta": mta, "sent": 3, "delivered": delivered if mta == "exim" else 3, "via_trap": 3 if mta == "sendmail" else 0,
             "after_recovery": 0 if mta == "sendmail" else (delivered if mta == "exim" else 3),
             "trap_hits": (hits or []) if mta == "exim" else [], "ok": mta != "exim" or (delivered == 3 and not hits)}
            for mta in matrix.MTAS]
    bot = [{"client": "IPv6 spam bot, highest MX (a trap)", "outcome": "delivered", "expected": "delivered", "detail": "RESULT delivered",
            "recorded": bot_recorded, "ok": bot_recorded}] if kind == "4xx" else []
    return {"kind": kind, "count": 3, "rows": rows, "bot": bot}


def with_walks(*walks):
    result = results()
    result["variants"][0]["crude"] = result["variants"][0]["crude"][:1]
    result["variants"][0]["walks"] = list(walks)
    return result


def test_a_walk_where_every_message_arrives_and_nobody_is_recorded_passes():
    assert matrix.problems(with_walks(walk(), walk("unreachable"))) == []


@pytest.mark.parametrize("case, problem", [
    ("recorded", "reset, walk past the trap host (4xx): exim: 3/3 delivered, recorded by a trap"),
    ("lost", "reset, walk past the trap host (4xx): exim: 2/3 delivered"),
    ("bot", "reset, walk past the trap host (4xx): IPv6 spam bot, highest MX (a trap): delivered, expected delivered, not recorded"),
])
def test_what_fails_a_walk(case, problem):
    chosen = walk(hits=[ADDRESSES["exim"][1]]) if case == "recorded" else walk(delivered=2) if case == "lost" else walk(bot_recorded=False)
    assert matrix.problems(with_walks(chosen)) == [problem]


def test_the_page_shows_the_walk_per_outage_and_mta():
    page = matrix.render_docs(with_walks(walk(), walk("unreachable")))
    assert "### Walking past the trap host (suppression on)" in page
    assert "| 4xx | Sendmail | 3 / 3 | 3 | 0 | no |" in page
    assert "| unreachable | Postfix | 3 / 3 | 0 | 3 | no |" in page
    assert "| IPv6 spam bot, highest MX (a trap) | delivered, recorded | yes | RESULT delivered |" in page


@pytest.mark.parametrize("address, listening, expected", [
    ("198.51.100.20", ["LISTEN", "0", "100", "198.51.100.20:25", "0.0.0.0:*"], True),
    ("198.51.100.20", ["0.0.0.0:25"], True),
    ("2001:db8:de::20", ["[::]:25"], True),
    ("2001:db8:de::20", ["[2001:db8:de::21]:25", "198.51.100.20:25"], False),
    ("198.51.100.20", ["198.51.100.21:25"], False),
])
def test_listens_on_the_address_or_the_wildcard(address, listening, expected):
    assert matrix.listens(address, listening) is expected


MINIMAL_OUTPUT = """localhost | SUCCESS => {
    "backend": "nftables",
    "changed": false,
    "hits": [
        {"source": "2001:db8:de::99", "hits": 1, "last_seen_ago": 3},
        {"source": "198.51.100.99", "hits": 2, "last_seen_ago": 5},
        {"source": "2001:db8:77:1::/64", "hits": null, "last_seen_ago": 9}
    ],
    "present": true
}
"""


def test_the_trap_hits_are_the_sorted_sources_of_the_module_result():
    assert matrix.trap_hit_sources(MINIMAL_OUTPUT) == ["198.51.100.99", "2001:db8:77:1::", "2001:db8:de::99"]


def test_no_trap_firewall_means_no_hits():
    assert matrix.trap_hit_sources('localhost | SUCCESS => {"hits": [], "present": false}') == []


@pytest.mark.parametrize("output, message", [
    ('localhost | FAILED! => {"changed": false, "msg": "reading the nftables backend needs nft on the host"}',
     "localhost | FAILED!: reading the nftables backend needs nft on the host"),
    ("", "no module result"),
    ("localhost | SUCCESS => {not json", "no module result"),
])
def test_a_failed_or_missing_result_says_why(output, message):
    with pytest.raises(ValueError) as error:
        matrix.trap_hit_sources(output)
    assert str(error.value) == message


def test_the_trap_hits_come_from_the_public_module_run_like_a_user_would():
    command = matrix.trap_hits_command()
    assert command[0] == "env"
    ansible = command.index(str(matrix.BIN / "ansible"))
    settings = dict(item.split("=", 1) for item in command[1:ansible])
    assert settings["ANSIBLE_STDOUT_CALLBACK"] == "minimal" and settings["ANSIBLE_CALLBACK_RESULT_FORMAT"] == "json"
    assert settings["ANSIBLE_LOAD_CALLBACK_PLUGINS"] == "1"
    arguments = command[ansible + 1:]
    assert arguments[:3] == ["localhost", "--connection", "local"]
    assert arguments[arguments.index("--module-name") + 1] == "mailsec.mx.mx_trap_hits"
    assert json.loads(arguments[arguments.index("--args") + 1]) == {"name": "mx_trap", "backend": "auto"}


# --- qmail skipped or refused; the 4xx variant ------------------------------------------------------------------

FOUR_MTAS = ("postfix", "exim", "opensmtpd", "sendmail")


def without_qmail(refused=False):
    """This run's results when qmail sat it out, with a walk whose rows have no qmail either."""
    result = with_walks(walk())
    for scenario in result["variants"][0]["scenarios"]:
        scenario["rows"] = [row for row in scenario["rows"] if row["mta"] != "qmail"]
    for item in result["variants"][0]["walks"]:
        item["rows"] = [row for row in item["rows"] if row["mta"] != "qmail"]
    del result["versions"]["qmail"]
    result["date"] = "2026-12-24"
    result["skipped"] = {"qmail": {"reason": "../shared/mta-src/notqmail-1.09.tar.gz not found", "refused": refused}}
    return result


def previous_with_qmail(measured=None):
    result = with_walks(walk())
    result["versions"]["qmail"] = "notqmail 1.09 (notqmail-1.09.tar.gz, SHA-256 ab)"
    result["variants"][0]["scenarios"][0]["rows"][-1]["ok"] = False  # a failure then must not fail this run
    if measured:
        result["measured"] = {"qmail": measured}
    return result


def test_a_skipped_qmail_keeps_its_last_measured_rows_marked_with_their_date():
    result = without_qmail()
    assert matrix.carry_over(result, previous_with_qmail(), "qmail") is True
    rows = result["variants"][0]["scenarios"][0]["rows"]
    assert [row["mta"] for row in rows] == list(matrix.MTAS) and rows[-1]["measured"] == "2026-11-24"
    assert result["variants"][0]["walks"][0]["rows"][-1]["measured"] == "2026-11-24"
    assert matrix.problems(result) == []
    page = matrix.render_docs(result)
    assert "| qmail (measured 2026-11-24) | 3 / 3 | mx1 | 0.60 | 1.00 | none |" in page
    assert "Delivered 12 of 12 messages" in page  # this run's rows only
    assert ("| qmail | notqmail 1.09 (notqmail-1.09.tar.gz, SHA-256 ab) (figures measured on 2026-11-24; skipped in this run: "
            "../shared/mta-src/notqmail-1.09.tar.gz not found) |") in page


def test_rows_carried_twice_keep_the_date_they_were_measured():
    result = without_qmail()
    matrix.carry_over(result, previous_with_qmail(measured="2026-10-01"), "qmail")
    assert result["measured"]["qmail"] == "2026-10-01"
    assert result["variants"][0]["scenarios"][0]["rows"][-1]["measured"] == "2026-10-01"


def test_without_earlier_results_a_skipped_qmail_is_named_as_skipped():
    result = without_qmail()
    assert matrix.carry_over(result, None, "qmail") is False
    page = matrix.render_docs(result)
    assert "| qmail | skipped in this run: ../shared/mta-src/notqmail-1.09.tar.gz not found |" in page
    assert "| qmail |" not in page.split("## Dead primary")[1]


def test_a_refused_qmail_source_fails_the_run_a_missing_one_does_not():
    assert matrix.problems(without_qmail()) == []
    assert matrix.problems(without_qmail(refused=True)) == ["qmail: ../shared/mta-src/notqmail-1.09.tar.gz not found"]


@pytest.mark.parametrize("text, expected", [
    ("3\n", 3), ("messages in queue: 4\nmessages in queue but not yet preprocessed: 0\n", 4),
    ("/var/spool/mqueue (2 requests)\n", 2), ("/var/spool/mqueue is empty\n", 0), ("", 0),
])
def test_a_queue_size_is_the_first_number_of_the_output(text, expected):
    assert matrix.first_number(text) == expected


def greeting_results():
    rows = matrix.summarise(batches({"qmail": [None, None]}), [], "mx1", ADDRESSES, float("inf"))
    for row in rows:
        row["queued"] = [2, 2, 2, 2] if row["mta"] == "qmail" else [0, 0, 0, 0]
    rows[-1]["qmail_log"] = {"messages": 2, "success": 0, "failure": 0, "deferral": 8,
                             "reasons": {"Connected to 198.51.100.11 but greeting failed.": 8}}
    variant = {"variant": "4xx", "count": 2, "crude": [], "walks": [], "audit": None, "retries": 3, "retry_every": 20.0,
               "scenarios": [{"scenario": "primary up", "expected_via": "mx1", "waited": 81.0, "rows": rows}],
               "after_reset": {mta: {"queued": 2 if mta == "qmail" else 0, "delivered": 2 if mta == "qmail" else 0}
                               for mta in matrix.MTAS}}
    return {"date": "2026-12-01", "versions": {mta: "1.0" for mta in matrix.MTAS}, "variants": [variant]}


def test_the_4xx_variant_is_a_measurement_that_never_fails_the_run():
    assert matrix.problems(greeting_results()) == []


def test_the_page_shows_who_moves_on_and_who_defers_at_a_4xx_dead_primary():
    page = matrix.render_docs(greeting_results())
    assert "## Dead primary: 4xx (a listener that greets with `421`" in page
    assert "| Postfix | moved on to the next MX | 3 / 3 | mx1 | 0.60 | 1.00 | 0 / 0 / 0 / 0 | none |" in page
    assert "| qmail | deferred | 0 / 2 | - | - | - | 2 / 2 / 2 / 2 | none |" in page
    assert ("qmail-send's log, primary up: its 2 message(s) had 8 delivery attempt(s): 0 success(es), 8 deferral(s), 0 failure(s)"
            ' - 8 x "Connected to 198.51.100.11 but greeting failed.".') in page
    assert "| qmail | 2 | 2 |" in page and "| Exim | 0 | 0 |" in page
    assert "### Crude senders" not in page.split("## Dead primary: 4xx")[1]


def test_the_lab_spec_follows_the_mtas_of_the_run():
    assert [host["name"] for host in matrix.lab_spec(FOUR_MTAS)["hosts"]][-4:] == list(FOUR_MTAS)


def test_qmail_that_does_not_deliver_with_reset_fails_the_run():
    result = results()
    result["variants"][0]["crude"] = result["variants"][0]["crude"][:1]
    result["variants"][0]["scenarios"][0]["rows"] = matrix.summarise(batches({"qmail": [0.4, None, None]}), [], "mx1", ADDRESSES)
    assert matrix.problems(result) == ["reset, primary up: qmail"]
