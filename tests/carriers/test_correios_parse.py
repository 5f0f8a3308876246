from datetime import date, datetime, timezone

import pytest

from tests.carriers.fixtures import load
from tracker.carriers.base import NotFoundYet, Status, Temporary
from tracker.carriers.correios import parse, status_of, token_expiry

N = "QB123456785BR"


def test_brasilia_local_time_becomes_utc_with_offset():
    result = parse(load("correios", "in_transit"))[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.IN_TRANSIT, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY]
    assert events[-1].occurred_at == datetime(2026, 3, 5, 12, 14, tzinfo=timezone.utc)
    assert events[-1].utc_offset_minutes == -180
    assert events[-1].raw_code == "OEC-01" and events[-1].location == "CAMPINAS, SP"
    assert result.expected_delivery == date(2026, 3, 9)


def test_delivered_with_receiver():
    result = parse(load("correios", "delivered"))[N]
    assert result.latest.status is Status.DELIVERED and result.signed_by == "MARIA APARECIDA"


def test_payment_attempt_pickup_refusal():
    result = parse(load("correios", "exception"))[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.EXCEPTION, Status.FAILED_ATTEMPT, Status.AVAILABLE_FOR_PICKUP,
                                         Status.EXCEPTION]
    assert result.pickup_location == "AC CAMPINAS CENTRO, AV FRANCISCO GLICERIO, 1414, CAMPINAS, SP"


def test_sro_020_is_not_found_yet_beside_a_found_object():
    result = parse(load("correios", "not_found"))
    assert isinstance(result[N], NotFoundYet)
    assert result["PQ876543216ES"].latest.status is Status.IN_TRANSIT


def test_unknown_code_is_unknown():
    result = parse(load("correios", "unknown_code"))[N]
    assert [e.status for e in result.events] == [Status.UNKNOWN]


def test_reply_without_objects_is_temporary():
    with pytest.raises(Temporary):
        parse({"msgs": ["Serviço indisponível"]})


@pytest.mark.parametrize("code,tipo,text,status", [
    ("PO", "01", "Objeto postado", Status.IN_TRANSIT),
    ("PO", "09", "Objeto postado após o horário limite da unidade", Status.IN_TRANSIT),
    ("RO", "01", "Objeto em trânsito - por favor aguarde", Status.IN_TRANSIT),
    ("DO", "01", "Objeto em trânsito - por favor aguarde", Status.IN_TRANSIT),
    ("PAR", "16", "Objeto recebido no Brasil", Status.IN_TRANSIT),
    ("PAR", "31", "Pagamento pendente", Status.EXCEPTION),
    ("OEC", "01", "Objeto saiu para entrega ao destinatário", Status.OUT_FOR_DELIVERY),
    ("LDI", "01", "Objeto aguardando retirada no endereço indicado", Status.AVAILABLE_FOR_PICKUP),
    ("BDE", "01", "Objeto entregue ao destinatário", Status.DELIVERED),
    ("BDI", "01", "Objeto entregue ao destinatário", Status.DELIVERED),
    ("BDR", "01", "Objeto entregue ao destinatário", Status.DELIVERED),
    ("BDE", "02", "Destinatário ausente", Status.FAILED_ATTEMPT),
    ("BDE", "03", "Objeto não procurado", Status.EXCEPTION),
    ("BDE", "23", "Objeto devolvido ao remetente", Status.EXCEPTION),
    ("BDI", "87", "Objeto entregue na caixa postal", Status.DELIVERED),     # unlisted tipo: words decide
    ("FC", "88", "Objeto será devolvido ao remetente", Status.EXCEPTION),
    ("QQQ", "01", "Algo inédito", Status.UNKNOWN),
])
def test_status_vocabulary(code, tipo, text, status):
    assert status_of(code, tipo, text) is status


def test_token_expiry_is_read_in_brasilia_time():
    now = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
    assert token_expiry({"expiraEm": "2026-03-06T09:00:00"}, now) == 24 * 3600
    assert token_expiry({}, now) == 24 * 3600
