import asyncio
import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from hub.errors import ReauthorisationRequired, RetriableError
from hub.oauth import MemoryTokenStore, OAuth2Auth, OAuth2Session, Tokens

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
XERO_TOKEN_URL = "https://identity.xero.com/connect/token"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
API_URL = "https://api.xero.com/practicemanager/3.1/client.api/list"

EXPIRED = Tokens("at-1", "rt-1", T0 - timedelta(minutes=1))
VALID = Tokens("at-1", "rt-1", T0 + timedelta(minutes=30))


class RecordingStore(MemoryTokenStore):
    """A token store that notes each save in a shared event log, yielding to other tasks as a database would."""

    def __init__(self, events: list[tuple[str, str]], tokens: Tokens | None) -> None:
        super().__init__({"xpm-main": tokens} if tokens else {})
        self.events = events

    async def save(self, connection: str, tokens: Tokens) -> None:
        await asyncio.sleep(0)
        self.events.append(("saved", tokens.refresh_token))
        await super().save(connection, tokens)


class TokenEndpoint:
    """A fake token endpoint that rotates both tokens on each refresh, slowly enough for callers to pile up."""

    def __init__(self) -> None:
        self.issued = 1

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            await asyncio.sleep(0)
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"at-{self.issued}",
                "refresh_token": f"rt-{self.issued}",
                "expires_in": 1800,
                "token_type": "Bearer",
            },
        )


def make_session(
    store: MemoryTokenStore, http: httpx.AsyncClient, token_url: str = XERO_TOKEN_URL, clock=lambda: T0
) -> OAuth2Session:
    return OAuth2Session("xpm-main", token_url, "client-id", "client-secret", store, http, clock)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@respx.mock
async def test_fifty_concurrent_callers_with_an_expired_token_cause_one_refresh(http) -> None:
    route = respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())
    store = RecordingStore([], EXPIRED)
    session = make_session(store, http)

    tokens = await asyncio.gather(*(session.access_token() for _ in range(50)))

    assert set(tokens) == {"at-2"}
    assert route.call_count == 1
    assert store.tokens["xpm-main"] == Tokens("at-2", "rt-2", T0 + timedelta(seconds=1800))


@respx.mock
async def test_refresh_sends_refresh_token_grant_with_basic_client_credentials(http) -> None:
    route = respx.post(INTUIT_TOKEN_URL).mock(side_effect=TokenEndpoint())
    session = make_session(MemoryTokenStore({"xpm-main": EXPIRED}), http, INTUIT_TOKEN_URL)

    await session.access_token()

    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"client-id:client-secret").decode()
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent.content.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-1"]}


@respx.mock
async def test_rotated_refresh_token_is_saved_before_the_new_access_token_is_used(http) -> None:
    events: list[tuple[str, str]] = []
    respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())

    def api(request: httpx.Request) -> httpx.Response:
        events.append(("used", request.headers["Authorization"]))
        return httpx.Response(200, json={"clients": []})

    respx.get(API_URL).mock(side_effect=api)
    session = make_session(RecordingStore(events, EXPIRED), http)

    response = await http.get(API_URL, auth=OAuth2Auth(session))

    assert response.status_code == 200
    assert events == [("saved", "rt-2"), ("used", "Bearer at-2")]


@respx.mock
async def test_a_token_the_store_could_not_save_is_never_used(http) -> None:
    class BrokenStore(MemoryTokenStore):
        async def save(self, connection: str, tokens: Tokens) -> None:
            raise OSError("disk full")

    respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())
    api = respx.get(API_URL).mock(return_value=httpx.Response(200))
    session = make_session(BrokenStore({"xpm-main": EXPIRED}), http)

    with pytest.raises(OSError, match="disk full"):
        await http.get(API_URL, auth=OAuth2Auth(session))

    assert api.call_count == 0


@respx.mock
async def test_token_is_refreshed_within_a_minute_of_expiry_and_not_before(http) -> None:
    route = respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())
    now = T0
    store = MemoryTokenStore({"xpm-main": Tokens("at-1", "rt-1", T0 + timedelta(seconds=90))})
    session = make_session(store, http, clock=lambda: now)

    assert await session.access_token() == "at-1"
    now = T0 + timedelta(seconds=31)
    assert await session.access_token() == "at-2"
    assert route.call_count == 1


@respx.mock
async def test_invalid_grant_requires_reauthorisation_without_retrying(http) -> None:
    route = respx.post(XERO_TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    session = make_session(MemoryTokenStore({"xpm-main": EXPIRED}), http)

    results = await asyncio.gather(*(session.access_token() for _ in range(10)), return_exceptions=True)
    with pytest.raises(ReauthorisationRequired, match=r"re-authorisation required: .*invalid_grant"):
        await session.access_token()

    assert all(isinstance(result, ReauthorisationRequired) for result in results)
    assert route.call_count == 1


@respx.mock
async def test_invalid_client_on_401_requires_reauthorisation(http) -> None:
    respx.post(INTUIT_TOKEN_URL).mock(
        return_value=httpx.Response(401, json={"error": "invalid_client", "error_description": "bad secret"})
    )
    session = make_session(MemoryTokenStore({"xpm-main": EXPIRED}), http, INTUIT_TOKEN_URL)

    with pytest.raises(ReauthorisationRequired, match="invalid_client: bad secret"):
        await session.access_token()


@respx.mock
async def test_a_refusal_holds_until_the_store_has_another_refresh_token(http) -> None:
    route = respx.post(XERO_TOKEN_URL)
    route.side_effect = [httpx.Response(400, json={"error": "invalid_grant"}), TokenEndpoint()]
    store = MemoryTokenStore({"xpm-main": EXPIRED})
    session = make_session(store, http)
    with pytest.raises(ReauthorisationRequired):
        await session.access_token()
    with pytest.raises(ReauthorisationRequired, match="invalid_grant"):
        await session.access_token()

    store.tokens["xpm-main"] = Tokens("at-9", "rt-9", T0 - timedelta(seconds=1))  # a person authorised it again

    assert await session.access_token() == "at-2"
    assert route.call_count == 2
    assert parse_qs(route.calls.last.request.content.decode())["refresh_token"] == ["rt-9"]


class RevokingTokenEndpoint:
    """Intuit's token endpoint: each refresh token works once, and a used one is refused with invalid_grant."""

    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.issued = 1
        self.grants: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        (refresh,) = parse_qs(request.content.decode())["refresh_token"]
        self.grants.append(refresh)
        if refresh not in self.valid:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token invalid"})
        self.valid.remove(refresh)
        self.issued += 1
        self.valid.add(f"rt-{self.issued}")
        return httpx.Response(
            200, json={"access_token": f"at-{self.issued}", "refresh_token": f"rt-{self.issued}", "expires_in": 3600}
        )


@respx.mock
async def test_tokens_another_process_refreshed_are_used_without_a_refresh(http) -> None:
    intuit = RevokingTokenEndpoint("rt-1")
    respx.post(INTUIT_TOKEN_URL).mock(side_effect=intuit)
    now = T0
    store = MemoryTokenStore({"xpm-main": VALID})  # one store, as two processes share one database
    serve = make_session(store, http, INTUIT_TOKEN_URL, clock=lambda: now)
    sync = make_session(store, http, INTUIT_TOKEN_URL, clock=lambda: now)
    assert await serve.access_token() == "at-1"

    now = T0 + timedelta(hours=1)
    assert await sync.access_token() == "at-2"

    assert await serve.access_token() == "at-2"
    assert intuit.grants == ["rt-1"]


async def test_a_refresh_token_another_process_used_first_is_not_taken_for_a_revocation() -> None:
    intuit = RevokingTokenEndpoint("rt-1")
    asked, answer = asyncio.Event(), asyncio.Event()

    async def slow_network(request: httpx.Request) -> httpx.Response:
        asked.set()
        await answer.wait()  # the other process refreshes meanwhile
        return intuit(request)

    store = MemoryTokenStore({"xpm-main": EXPIRED})
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(intuit)) as serve_http,
        httpx.AsyncClient(transport=httpx.MockTransport(slow_network)) as sync_http,
    ):
        serve = make_session(store, serve_http, INTUIT_TOKEN_URL)
        sync = make_session(store, sync_http, INTUIT_TOKEN_URL)
        late = asyncio.create_task(sync.access_token())
        await asked.wait()
        assert await serve.access_token() == "at-2"
        answer.set()

        assert await late == "at-2"
    assert intuit.grants == ["rt-1", "rt-1"]
    assert store.tokens["xpm-main"].refresh_token == "rt-2"


@respx.mock
async def test_a_refresh_token_used_first_elsewhere_is_retried_with_the_stored_one_once_expired(http) -> None:
    intuit = RevokingTokenEndpoint("rt-1")
    respx.post(INTUIT_TOKEN_URL).mock(side_effect=intuit)

    class AnotherProcessRefreshesFirst(MemoryTokenStore):
        """Just after the session's last read before refreshing, another process refreshes and stores rt-2."""

        loads = 0

        async def load(self, connection: str) -> Tokens | None:
            tokens = await super().load(connection)
            self.loads += 1
            if self.loads == 2:
                intuit(httpx.Request("POST", INTUIT_TOKEN_URL, data={"refresh_token": "rt-1"}))
                self.tokens[connection] = Tokens("at-2", "rt-2", T0)  # already expiring
            return tokens

    store = AnotherProcessRefreshesFirst({"xpm-main": EXPIRED})

    assert await make_session(store, http, INTUIT_TOKEN_URL).access_token() == "at-3"
    assert intuit.grants == ["rt-1", "rt-1", "rt-2"]
    assert store.tokens["xpm-main"].refresh_token == "rt-3"


@respx.mock
async def test_token_endpoint_outage_is_retriable_and_not_remembered(http) -> None:
    route = respx.post(XERO_TOKEN_URL)
    route.side_effect = [httpx.Response(503), httpx.ConnectError("refused"), TokenEndpoint()]
    session = make_session(MemoryTokenStore({"xpm-main": EXPIRED}), http)

    with pytest.raises(RetriableError, match="HTTP 503"):
        await session.access_token()
    with pytest.raises(RetriableError, match="cannot reach"):
        await session.access_token()
    assert await session.access_token() == "at-2"


async def test_connection_without_tokens_requires_authorisation(http) -> None:
    session = make_session(MemoryTokenStore(), http)

    with pytest.raises(ReauthorisationRequired, match="no stored tokens"):
        await session.access_token()


@respx.mock
async def test_401_from_the_api_renews_the_token_and_retries_once(http) -> None:
    token_route = respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer at-1":
            return httpx.Response(401)
        return httpx.Response(200, json={"clients": []})

    api_route = respx.post(API_URL).mock(side_effect=api)
    session = make_session(MemoryTokenStore({"xpm-main": VALID}), http)
    auth = OAuth2Auth(session)

    responses = await asyncio.gather(*(http.post(API_URL, json={"n": n}, auth=auth) for n in range(5)))

    assert [response.status_code for response in responses] == [200] * 5
    assert token_route.call_count == 1
    assert api_route.call_count == 10
    assert api_route.calls.last.request.content == b'{"n":4}'


@respx.mock
async def test_second_401_is_returned_to_the_caller(http) -> None:
    token_route = respx.post(XERO_TOKEN_URL).mock(side_effect=TokenEndpoint())
    api_route = respx.get(API_URL).mock(return_value=httpx.Response(401))
    session = make_session(MemoryTokenStore({"xpm-main": VALID}), http)

    response = await http.get(API_URL, auth=OAuth2Auth(session))

    assert response.status_code == 401
    assert token_route.call_count == 1
    assert api_route.call_count == 2


def test_tokens_repr_hides_the_secrets() -> None:
    assert "at-1" not in repr(VALID)
    assert "rt-1" not in repr(VALID)
