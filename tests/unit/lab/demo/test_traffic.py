"""lab.demo.traffic: what it judges in the sender's Postfix log (the demo prints timings, never judges them)."""

from lab.demo import traffic

LOG = """\
Nov 30 sender postfix/cleanup[11]: A1: message-id=<run1.1@sender.lab.test>
Nov 30 sender postfix/cleanup[11]: B2: message-id=<run1.2@sender.lab.test>
Nov 30 sender postfix/smtp[21]: connect to nolist.example.test[203.0.113.10]:25: Connection refused
Nov 30 sender postfix/smtp[21]: connect to nolist.example.test[2001:db8::10]:25: Connection refused
Nov 30 sender postfix/smtp[21]: A1: to=<demo@example.test>, relay=mx1.example.test[203.0.113.20]:25, delay=9.3, \
delays=0/0/0/9.3, dsn=2.0.0, status=sent (250 ok)
Nov 30 sender postfix/smtp[22]: connect to nolist.example.test[203.0.113.10]:25: Connection timed out
Nov 30 sender postfix/smtp[22]: B2: to=<demo@example.test>, relay=mx1.example.test[203.0.113.20]:25, delay=30.1, \
delays=0/0/30/0.1, dsn=2.0.0, status=sent (250 ok)
"""


def test_the_log_gives_each_message_its_relay_delay_and_failed_connects():
    per_message = traffic.parse_sender_log(LOG, "run1")
    assert per_message[1]["connects"] == ["nolist.example.test[203.0.113.10] refused", "nolist.example.test[2001:db8::10] refused"]
    assert (per_message[1]["relay"], per_message[1]["delay"], per_message[1]["status"]) == ("mx1.example.test[203.0.113.20]", 9.3, "sent")


def test_a_slow_message_behind_a_reset_is_no_problem_a_timed_out_connect_is():
    problems = traffic.dead_primary_problems(traffic.parse_sender_log(LOG, "run1"))
    assert problems == ["message 2: the dead primary did not reset the connection: "
                        "nolist.example.test[203.0.113.10] Connection timed out"]
