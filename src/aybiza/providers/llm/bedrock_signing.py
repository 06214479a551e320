"""Where Bedrock requests go and how they are signed, resolved once per engine through botocore.

botocore decides, once, what its own ``bedrock-runtime`` client would: the endpoint (the
region's endpoint rules, or ``endpoint_url``, ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``,
``AWS_ENDPOINT_URL``, FIPS and the config file), the credentials (its chain: environment,
profile, SSO, ``credential_process``, web identity, container and instance roles), a Bedrock
bearer token (``AWS_BEARER_TOKEN_BEDROCK``, which it prefers when set), the CA bundle
(``AWS_CA_BUNDLE`` or certifi's) and the user agent. Resolving takes a botocore session and
client (its service model and endpoint rules: a hundred milliseconds or more, and possibly
network calls to a credential endpoint), so it runs in a worker thread at start-up.

Each answer then costs only botocore's signer: ``SigV4Auth`` on an ``AWSRequest`` (or
``BearerAuth`` with a token). Credentials botocore can refresh (roles, SSO, processes) are
refreshed by botocore when they near expiry, in a worker thread so the event loop never waits
on a credential endpoint.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import quote

import botocore.session
from botocore.auth import BaseSigner, BearerAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import NoCredentialsError
from botocore.httpsession import get_cert_path
from botocore.tokens import FrozenAuthToken
from botocore.utils import get_token_from_environment

SERVICE = "bedrock-runtime"
JSON = "application/json"


@dataclass(frozen=True)
class BedrockTarget:
    """The endpoint, region and authentication every answer of one engine uses."""

    endpoint_url: str
    region: str
    signing_name: str
    credentials: Credentials | None
    bearer_token: str | None
    user_agent: str

    def converse_stream_url(self, model_id: str) -> str:
        """``ConverseStream``'s URL for ``model_id``, percent-encoded as botocore encodes a
        path label (``:`` and ``/`` of profile ids and ARNs included)."""
        return f"{self.endpoint_url}/model/{quote(model_id, safe='')}/converse-stream"


def resolve_target(region: str, endpoint_url: str | None) -> tuple[BedrockTarget, ssl.SSLContext]:
    """Ask botocore where and how a ``bedrock-runtime`` client would call. Blocking."""
    session = botocore.session.get_session()
    client = session.create_client(SERVICE, region_name=region, endpoint_url=endpoint_url)
    signing_name = client.meta.service_model.signing_name
    target = BedrockTarget(
        endpoint_url=client.meta.endpoint_url.rstrip("/"),
        region=client.meta.region_name,
        signing_name=signing_name,
        credentials=session.get_credentials(),
        bearer_token=get_token_from_environment(signing_name),
        user_agent=f"{session.user_agent()} app/aybiza",
    )
    ssl_context = _ssl_context(session.get_config_variable("ca_bundle"))
    client.close()
    return target, ssl_context


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A TLS context trusting what botocore trusts (``AWS_CA_BUNDLE`` or certifi's bundle)."""
    context = ssl.create_default_context(cafile=get_cert_path(ca_bundle or True))
    context.set_alpn_protocols(["http/1.1"])
    return context


async def signed_headers(target: BedrockTarget, url: str, body: bytes) -> dict[str, str]:
    """The headers of a signed ``POST`` of ``body`` (JSON) to ``url``."""
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": JSON})
    (await _signer(target)).add_auth(request)
    headers = dict(request.headers.items())
    headers["User-Agent"] = target.user_agent
    return headers


async def _signer(target: BedrockTarget) -> BaseSigner:
    if target.bearer_token:
        return BearerAuth(FrozenAuthToken(target.bearer_token))
    credentials = target.credentials
    if credentials is None:
        raise NoCredentialsError()
    if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
        # botocore refreshes here, calling the credential endpoint or process.
        frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
    else:
        frozen = credentials.get_frozen_credentials()
    return SigV4Auth(frozen, target.signing_name, target.region)
