import pytest

from tracker.carriers.detect import Undetected, candidates, choose, detect
from tracker.orders import InputError, validate

ALL = ["sandbox", "ups", "fedex", "usps", "dhl", "correios"]


@pytest.mark.parametrize("number,carrier", [
    ("1Z4W8E1Y0369451279", "ups"),
    ("1z 4w8e 1y03 6945 1279", "ups"),             # spaces and lower case as people type them
    ("123456789012", "fedex"),                       # Express, 12 digits
    ("612345678902", "fedex"),
    ("123456789012343", "fedex"),                    # Ground, 15 digits
    ("9400111899223100001113", "usps"),              # IMpb
    ("420787019400111899223100001113", "usps"),      # IMpb behind a 420+ZIP routing prefix
    ("1234567806", "dhl"),                           # Express, mod 7
    ("JJD000390007801234567", "dhl"),
    ("QB123456785BR", "correios"),                   # UPU S10, Brazil
    ("EA123456785US", "usps"),                       # UPU S10, United States
    ("SBX-DELIVER-1", "sandbox"),
])
def test_formats(number, carrier):
    assert candidates(number) == [carrier]


@pytest.mark.parametrize("number", [
    "1Z4W8E1Y0369451278",        # UPS, wrong check digit
    "123456789013",              # FedEx Express, wrong check digit
    "9400111899223100001114",    # IMpb, wrong check digit
    "1234567807",                # DHL Express, wrong check digit
    "QB123456786BR",             # S10, wrong check digit
    "HELLO",
])
def test_wrong_check_digits_match_nothing(number):
    assert detect(number) == []


def test_s10_names_national_posts_without_connectors():
    assert candidates("PQ876543216ES") == ["correos"]
    assert candidates("RE112233447GR") == ["elta"]
    with pytest.raises(Undetected) as err:
        choose("PQ876543216ES", ALL)
    assert "Correos (Spain)" in str(err.value) and "not configured" in str(err.value)


def test_an_ordinary_impb_goes_to_usps_even_with_fedex_configured():
    assert choose("9400111899223100001113", ALL) == "usps"
    assert choose("92748931507708513018050063", ALL) == "usps"          # 26-digit IMpb


def test_smartpost_goes_to_fedex_by_its_service_code_and_to_usps_without_fedex():
    number = "9261290100130435082763"    # 92 + service 612 (FedEx Ground Economy) + mailer + package
    assert candidates(number) == ["fedex", "usps"]
    assert choose(number, ALL) == "fedex"
    assert choose(number, ["sandbox", "usps"]) == "usps"    # USPS delivers it and tracks it too
    assert choose("61299998820821171811", ALL) == "fedex"     # the same label printed without its 92


@pytest.mark.parametrize("number", [
    "RB123456785XX",                     # S10 with a country code that does not exist
    "RB123456785ZZ",
    "420000000000000000000000000000",    # all-zero routing and package id
    "42000000" + "9400111899223100001113",   # a real IMpb behind an all-zero ZIP
    "0000000000",                        # zeros pass mod 7, but are no DHL number
])
def test_impossible_numbers_are_refused(number):
    assert detect(number) == []


def test_validate_detects_among_configured_carriers():
    reg = validate(order_number="A-1", carrier=None, tracking_number="1Z4W8E1Y0369451279", email="a@example.com",
                   known_carriers=["sandbox", "ups"])
    assert reg.carrier == "ups"


@pytest.mark.parametrize("number,known,words", [
    ("1Z4W8E1Y0369451279", ["sandbox"], ["UPS", "not configured"]),
    ("ABC123", ALL, ["cannot be told", "give the carrier"]),
])
def test_validate_asks_for_the_carrier_when_it_cannot_tell(number, known, words):
    with pytest.raises(InputError) as err:
        validate(order_number="A-1", carrier="", tracking_number=number, email="a@example.com",
                 known_carriers=known)
    assert err.value.field == "carrier"
    for w in words:
        assert w in str(err.value)


def test_other_couriers_numbers_are_not_claimed():
    assert choose("JJD0099999999", ALL) == "dhl"                 # DHL Express piece id
    assert choose("JJD000390007801234567", ALL) == "dhl"         # DHL Paket, JJD + 18
    for yodel in ("JJD0002257639032011", "JD0002242617644732"):   # Yodel (UK): JJD/JD + 16 digits
        assert candidates(yodel) == []
    assert candidates("JFV247545960") == []                       # Purolator, three letters + 9 digits


def test_bare_digits_that_fit_a_courier_without_a_module_too_are_asked_about():
    number = "100000000172"        # passes FedEx Express mod 11 and Purolator's Luhn check
    with pytest.raises(Undetected) as err:
        choose(number, ALL)
    assert err.value.candidates == ["fedex", "purolator"]
    assert "no module for Purolator" in str(err.value) and "one of fedex." in str(err.value)
