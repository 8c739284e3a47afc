"""The console's identity and org pages in chromium: reset a password through the mailed link,
rename the org, configure SSO and prove a domain with the TXT record the page shows (answered by a
real DNS server), add a webhook endpoint, create an org from the switcher, start an SSO login."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.async_api import Browser, expect

from tests.console.browser import log_in, mail_to, mailed_link, open_console
from tests.console.conftest import Stack
from tests.support.tenants import sign_up

NEW_PASSWORD = "a brand new passphrase"


class TestIdentityAndOrgPages:
    async def test_reset_rename_sso_domain_webhook_new_org(
        self, browser: Browser, stack: Stack, api: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(api, "identity")
        console = await open_console(browser, stack.url)
        page = console.page

        # forgot the password: the request page, the mailed link (token in the fragment), a
        # new password, then logging in with it
        await console.goto("/login")
        await page.get_by_role("link", name="Forgot your password?").click()
        await page.get_by_label("Email").fill(owner.email)
        await page.get_by_role("button", name="Mail me a reset link").click()
        await expect(page.get_by_role("status")).to_contain_text("If an account exists")
        link = mailed_link(await mail_to(stack.smtp, owner.email, "Reset"), "/reset-password")
        await page.goto(link)
        await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        assert "#token" not in page.url
        await page.get_by_label("New password").first.fill(NEW_PASSWORD)
        await page.get_by_label("New password again").fill(NEW_PASSWORD)
        await page.get_by_role("button", name="Set the password").click()
        await expect(page.get_by_text("Your password is set")).to_be_visible()
        await log_in(console, owner.email, NEW_PASSWORD)
        # the link reached the mailbox: the address counts as verified, no banner
        assert await page.get_by_role("region", name="Email verification").count() == 0

        # org settings: rename
        await console.goto(f"/orgs/{owner.org_slug}/settings")
        new_name = f"Renamed {secrets.token_hex(2)}"
        await page.get_by_label("Name", exact=True).fill(new_name)
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_text("Saved.")).to_be_visible()
        switcher = page.get_by_role("combobox", name="Organization")
        await expect(switcher.locator("option:checked")).to_have_text(f"{new_name} (owner)")

        # SSO: configure the connection; the domain's TXT record is shown, Verify fails until
        # the record is published, then the domain is verified
        await page.get_by_role("link", name="SSO", exact=True).click()
        await expect(page.get_by_text("Single sign-on is not configured yet.")).to_be_visible()
        console.expected_failures(404)
        domain = f"acme-{secrets.token_hex(3)}.example"
        await page.get_by_label("Issuer URL").fill(stack.issuer)
        await page.get_by_label("Client id").fill("tollgate")
        await page.get_by_label("Client secret").fill("s3cret-of-the-idp")
        await page.get_by_label("Email domains").fill(domain)
        await page.get_by_role("button", name="Save the connection").click()
        proof = page.get_by_test_id(f"domain-{domain}")
        await expect(proof).to_contain_text("pending")
        name = await proof.get_by_test_id("record-name").inner_text()
        value = await proof.get_by_test_id("record-value").inner_text()
        assert name == f"_tollgate.{domain}"
        assert value.startswith("tollgate-verify=")
        await console.snapshot("sso-domains")
        await proof.get_by_role("button", name=f"Verify {domain}").click()
        await expect(proof.get_by_role("alert")).to_be_visible()
        console.expected_failures(422)
        stack.dns.txt[name] = [value]
        await proof.get_by_role("button", name=f"Verify {domain}").click()
        await expect(proof).to_contain_text(f"{domain}: verified")

        # webhooks: an endpoint, its secret shown once, no delivery yet
        await page.get_by_role("link", name="Webhooks").click()
        await page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hooks")
        await page.get_by_role("button", name="Add endpoint").click()
        secret = await page.get_by_test_id("webhook-secret").inner_text()
        assert secret.startswith("whsec_")
        await page.get_by_role("button", name="I have stored it").click()
        await page.get_by_text("http://127.0.0.1:9/hooks").click()
        await expect(page.get_by_text("No delivery yet.")).to_be_visible()

        # a second org, from the switcher
        await switcher.select_option(label="+ New organization…")
        other_name = f"Second {secrets.token_hex(2)}"
        await page.get_by_label("Organization name").fill(other_name)
        await page.get_by_role("button", name="Create organization").click()
        await expect(page.get_by_role("heading", name=f"Projects of {other_name}")).to_be_visible()

        # SSO login start: the API sends the browser to the provider with PKCE
        await console.goto("/sso")
        await page.get_by_label("Organization slug").fill(owner.org_slug)
        await page.get_by_role("button", name="Continue to your identity provider").click()
        await expect(page).to_have_url(re.compile(rf"^{re.escape(stack.issuer)}/auth\?"))
        query = parse_qs(urlsplit(page.url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["client_id"] == ["tollgate"]
        console.expected_failures(404)  # the stand-in provider has no login page
        assert console.errors == []
        await page.context.close()
