"""Correios (Brazil) SRO Rastro, API Correios (CWS): token from Basic auth, up to 50 objects per call.

Docs: https://cws.correios.com.br/ajuda  (Manual de Integração, APIs "Token" and "SRO Rastro")

`GET /srorastro/v1/objetos?codigosObjetos=A,B&resultado=T` with a bearer token from
`POST /token/v1/autentica/cartaopostagem` (Basic usuario:codigoAcesso, body {"numero": cartão de postagem}),
valid 24 hours. Quirks: times are Brasília local time with no offset; an unknown object is a 200 reply
whose object carries `mensagem` "SRO-020: Objeto não encontrado..." and no events.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tracker.carriers.base import (
    AuthFailed,
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.common import date_of, from_iso, place, text
from tracker.carriers.oauth import TokenCarrier, authorized, call, token_failure

PRODUCTION_URL = "https://api.correios.com.br"
BRASILIA = ZoneInfo("America/Sao_Paulo")

# An event is codigo + tipo. The "baixa" codes (BDE, BDI, BDR) share one tipo table: 01 is delivered,
# the others are attempts or problems. Codes with one meaning whatever the tipo are in CODE_DEFAULTS.
STATUS_MAP: dict[str, Status] = {
    "BDE 01": Status.DELIVERED, "BDI 01": Status.DELIVERED, "BDR 01": Status.DELIVERED,
    "BDE 23": Status.EXCEPTION,   # devolvido ao remetente
    "PAR 31": Status.EXCEPTION,   # aguardando pagamento (customs fee)
    "PAR 18": Status.EXCEPTION,   # recusado/devolvido pela fiscalização
    "PAR 21": Status.IN_TRANSIT, "PAR 16": Status.IN_TRANSIT, "PAR 17": Status.IN_TRANSIT,
    "PAR 10": Status.IN_TRANSIT, "PAR 13": Status.IN_TRANSIT,
    "FC 01": Status.EXCEPTION,    # será devolvido por solicitação do remetente
    "FC 02": Status.IN_TRANSIT,   # entrega agendada
    "FC 47": Status.EXCEPTION,
    "LDE 01": Status.AVAILABLE_FOR_PICKUP,
}
_BAIXA_ATTEMPT = {"02", "20", "21", "25", "34", "35", "36", "42", "44", "48", "49", "55", "56", "69"}
_BAIXA_PROBLEM = {"03", "04", "05", "06", "07", "08", "09", "10", "12", "19", "22", "24", "26", "28", "32", "33",
                  "37", "38", "39", "40", "41", "43", "45", "46", "47", "50", "51", "52", "53", "54", "57", "58",
                  "59", "60", "61", "66", "67", "68"}
CODE_DEFAULTS: dict[str, Status] = {
    "PO": Status.IN_TRANSIT,      # postado
    "CO": Status.IN_TRANSIT,      # coletado
    "RO": Status.IN_TRANSIT, "DO": Status.IN_TRANSIT, "TRI": Status.IN_TRANSIT,  # em trânsito
    "PMT": Status.IN_TRANSIT, "CD": Status.IN_TRANSIT, "CUN": Status.IN_TRANSIT, "CAR": Status.IN_TRANSIT,
    "PAR": Status.IN_TRANSIT,     # customs steps (payment and refusal listed above)
    "OEC": Status.OUT_FOR_DELIVERY,  # saiu para entrega / em rota de entrega
    "LDI": Status.AVAILABLE_FOR_PICKUP,  # aguardando retirada
    "CMT": Status.IN_TRANSIT,     # chegada em unidade
    "IDC": Status.EXCEPTION,      # objeto não localizado
    "BLQ": Status.EXCEPTION,      # bloqueado
    "IE": Status.EXCEPTION,       # irregularidade na expedição
    "EST": Status.EXCEPTION,      # estorno
}
_WORDS: list[tuple[tuple[str, ...], Status]] = [
    (("entregue ao remetente", "devolvid", "recusad", "extraviad", "roubad", "avariad", "apreendid",
      "aguardando pagamento", "endereço incorreto", "endereço insuficiente", "desconhecido", "mudou-se",
      "falecido", "não procurado", "não localizado"), Status.EXCEPTION),
    (("ausente", "tentativa", "não atendido", "estabelecimento fechado"), Status.FAILED_ATTEMPT),
    (("saiu para entrega", "em rota de entrega"), Status.OUT_FOR_DELIVERY),
    (("aguardando retirada", "disponível para retirada"), Status.AVAILABLE_FOR_PICKUP),
    (("entregue",), Status.DELIVERED),
    (("em trânsito", "encaminhado", "recebido", "postado", "coletado", "transferência"), Status.IN_TRANSIT),
]


class CorreiosSettings(CarrierSettings):
    username: str = ""
    access_code: str = ""
    posting_card: str = ""


def status_of(code: str | None, tipo: str | None, description: str | None = "") -> Status:
    code = str(code or "").strip().upper()
    tipo = str(tipo or "").strip().zfill(2)
    if f"{code} {tipo}" in STATUS_MAP:
        return STATUS_MAP[f"{code} {tipo}"]
    if code in ("BDE", "BDI", "BDR"):
        if tipo in _BAIXA_ATTEMPT:
            return Status.FAILED_ATTEMPT
        if tipo in _BAIXA_PROBLEM:
            return Status.EXCEPTION
    elif code in CODE_DEFAULTS:
        return CODE_DEFAULTS[code]
    words = (description or "").lower()
    for keys, status in _WORDS:
        if any(k in words for k in keys) and not (status is Status.DELIVERED and "não" in words):
            return status
    return Status.UNKNOWN


def _unit(unit: dict[str, Any] | None) -> str:
    unit = unit or {}
    addr = unit.get("endereco") or {}
    return place(unit.get("nome"), addr.get("logradouro"), addr.get("numero"), addr.get("bairro"),
                 addr.get("cidade"), addr.get("uf"))


def _object(obj: dict[str, Any]) -> TrackingResult | CarrierError:
    key = obj.get("codObjeto") or ""
    message = text(obj.get("mensagem"))
    if message and not obj.get("eventos"):
        if "SRO-020" in message or "não encontrado" in message.lower():
            return NotFoundYet(f"{key} is not known to Correios yet ({message})")
        return Invalid(f"Correios: {message}")
    events, signed = [], None
    for ev in obj.get("eventos") or []:
        if not ev.get("dtHrCriado"):
            continue
        try:
            when, off = from_iso(ev["dtHrCriado"], zone=BRASILIA)
        except (ValueError, TypeError):
            continue  # an unreadable time: keep the readable scans rather than fail the whole number
        desc = text(ev.get("descricao"))
        detail = text(ev.get("detalhe"))
        st = status_of(ev.get("codigo"), ev.get("tipo"), desc)
        events.append(TrackingEvent(
            occurred_at=when, status=st, raw_code=f"{text(ev.get('codigo'))}-{text(ev.get('tipo'))}",
            raw_text=f"{desc} ({detail})" if detail else desc, location=_unit(ev.get("unidade")),
            utc_offset_minutes=off))
        rec = ev.get("recebedor") or {}
        if st is Status.DELIVERED and rec.get("nome"):
            signed = signed or text(rec["nome"])
    held = [e for e in events if e.status is Status.AVAILABLE_FOR_PICKUP]
    pickup = max(held, key=lambda e: e.occurred_at).location or None if held else None
    return TrackingResult(number=key, events=events, expected_delivery=date_of(obj.get("dtPrevista")),
                          signed_by=signed, pickup_location=pickup)


def parse(payload: dict[str, Any]) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one SRO Rastro reply -> normalized results by object code. Request-level errors are raised."""
    if not isinstance(payload, dict):
        raise Temporary("Correios: reply is not a JSON object")
    if "objetos" not in payload:
        msgs = payload.get("msgs") or payload.get("mensagem") or payload.get("message") or "no objetos"
        raise Temporary(f"Correios: unexpected reply ({text(msgs)[:120]})")
    return {(obj.get("codObjeto") or ""): _object(obj) for obj in payload.get("objetos") or []}


def token_expiry(body: dict[str, Any], now: datetime) -> float:
    """`expiraEm` is Brasília local time; fall back to the documented 24 hours."""
    try:
        when, _ = from_iso(body["expiraEm"], zone=BRASILIA)
        return max(60.0, (when - now).total_seconds())
    except (KeyError, TypeError, ValueError):
        return 24 * 3600.0


class CorreiosCarrier(TokenCarrier):
    name = "correios"
    display_name = "Correios"
    production_url = PRODUCTION_URL
    Settings = CorreiosSettings
    batch_size = 50
    rate_per_second = 5.0       # no published limit
    daily_budget = None

    async def _fetch_token(self) -> tuple[str, float]:
        s: CorreiosSettings = self.settings
        self.require("username", "access_code", "posting_card")
        basic = base64.b64encode(f"{s.username}:{s.access_code}".encode()).decode()
        now = self.clock.now()
        status, body = await call(
            self.session, "POST", f"{self.base}/token/v1/autentica/cartaopostagem", carrier="Correios",
            timeout=s.timeout_seconds, now=now, json={"numero": s.posting_card},
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"})
        if status not in (200, 201) or not isinstance(body, dict) or not body.get("token"):
            raise token_failure("Correios", status, body)
        return body["token"], token_expiry(body, now)

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        s: CorreiosSettings = self.settings

        async def send(token: str):
            return await call(self.session, "GET", f"{self.base}/srorastro/v1/objetos", carrier="Correios",
                              timeout=s.timeout_seconds, now=self.clock.now(),
                              params={"codigosObjetos": ",".join(numbers), "resultado": "T"},
                              headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

        status, body = await authorized(self.tokens, send, carrier="Correios")
        if status == 403:
            raise AuthFailed("Correios refused access to SRO Rastro (HTTP 403); check the contract's APIs")
        if status != 200 or body is None:
            raise Temporary(f"Correios: unexpected HTTP {status}")
        return parse(body)
