// Members with their roles; owners and admins change roles, remove members, invite and see
// pending invites. The invite link is shown once, as the API returns it.
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { api } from "../api";
import type { Page } from "../api";
import { CopyButton, ErrorBox, Field, Loading } from "../components/ui";
import { useAction, useApi } from "../hooks";
import { utc } from "../format";
import { can, grantableRoles } from "../roles";
import { useSession } from "../session";
import type { Invite, Member, Org, Role } from "../types";

/** The console's page for an invite token (the API's accept URL is for API clients). */
export function consoleInviteUrl(origin: string, token: string): string {
  return `${origin}/invites/${encodeURIComponent(token)}`;
}

export function Members({ org }: { org: Org }) {
  const base = `/v1/orgs/${encodeURIComponent(org.slug)}`;
  const members = useApi<Page<Member>>(`${base}/members`);
  const manages = can(org.role, "members.manage");
  const invites = useApi<Page<Invite>>(can(org.role, "invites.read") ? `${base}/invites` : null);
  return (
    <section aria-labelledby="members-title">
      <h1 id="members-title">Members of {org.name}</h1>
      {members.loading && !members.data ? <Loading what="Loading members" /> : null}
      <ErrorBox error={members.error} />
      {members.data ? (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                {manages ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {members.data.items.map((m) => (
                <MemberRow key={m.user_id} base={base} org={org} member={m} manages={manages} onChange={members.reload} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {manages ? <InviteForm base={base} org={org} onInvited={invites.reload} /> : null}
      {invites.data && invites.data.items.length > 0 ? (
        <section aria-labelledby="pending-title">
          <h2 id="pending-title">Pending invites</h2>
          <ul className="plain">
            {invites.data.items.map((i) => (
              <PendingInvite key={i.id} base={base} invite={i} onChange={invites.reload} />
            ))}
          </ul>
        </section>
      ) : null}
    </section>
  );
}

function MemberRow({
  base,
  org,
  member,
  manages,
  onChange,
}: {
  base: string;
  org: Org;
  member: Member;
  manages: boolean;
  onChange: () => void;
}) {
  const { me } = useSession();
  const action = useAction();
  const path = `${base}/members/${encodeURIComponent(member.user_id)}`;
  const roles = grantableRoles(org.role);
  const self = me?.user.id === member.user_id;
  const change = async (role: string) => {
    if (await action.run(() => api<Member>(path, { method: "PATCH", body: { role } }))) onChange();
  };
  const remove = async () => {
    if (!window.confirm(`Remove ${member.email} from ${org.name}?`)) return;
    await action.run(() => api(path, { method: "DELETE" }).then(() => true));
    onChange();
  };
  const editable = manages && !self && roles.includes(member.role);
  return (
    <tr>
      <td>{member.name}</td>
      <td>{member.email}</td>
      <td>
        {editable ? (
          <select aria-label={`Role of ${member.email}`} value={member.role} disabled={action.busy} onChange={(e) => void change(e.target.value)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          member.role
        )}
        <ErrorBox error={action.error} />
      </td>
      <td>{utc(member.joined_at)}</td>
      {manages ? (
        <td>
          {editable ? (
            <button type="button" className="danger" onClick={() => void remove()}>
              Remove<span className="sr-only"> {member.email}</span>
            </button>
          ) : null}
        </td>
      ) : null}
    </tr>
  );
}

function InviteForm({ base, org, onInvited }: { base: string; org: Org; onInvited: () => void }) {
  const action = useAction();
  const roles = grantableRoles(org.role);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [made, setMade] = useState<Invite | null>(null);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const invite = await action.run(() => api<Invite>(`${base}/invites`, { method: "POST", body: { email, role } }));
    if (invite) {
      setMade(invite);
      setEmail("");
      onInvited();
    }
  };
  const link = made?.token ? consoleInviteUrl(window.location.origin, made.token) : "";
  return (
    <form onSubmit={(e) => void submit(e)} className="panel stack" aria-labelledby="invite-title">
      <h2 id="invite-title">Invite someone</h2>
      <div className="inline">
        <Field label="Email">
          <input type="email" required value={email} onChange={(e) => { setEmail(e.target.value); }} />
        </Field>
        <Field label="Role">
          <select value={role} onChange={(e) => { setRole(e.target.value as Role); }}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" disabled={action.busy}>
          Invite
        </button>
      </div>
      <ErrorBox error={action.error} />
      {made && link ? (
        <p className="notice">
          Send {made.email} this link (shown once; valid until {utc(made.expires_at)}):{" "}
          <code data-testid="invite-link">{link}</code> <CopyButton text={link} label="Copy link" />
        </p>
      ) : null}
    </form>
  );
}

function PendingInvite({ base, invite, onChange }: { base: string; invite: Invite; onChange: () => void }) {
  const action = useAction();
  const cancel = async () => {
    await action.run(() => api(`${base}/invites/${encodeURIComponent(invite.id)}`, { method: "DELETE" }).then(() => true));
    onChange();
  };
  return (
    <li className="row">
      {invite.email} as <strong>{invite.role}</strong>, until {utc(invite.expires_at)}
      <button type="button" className="secondary" onClick={() => void cancel()}>
        Withdraw<span className="sr-only"> the invite of {invite.email}</span>
      </button>
      <ErrorBox error={action.error} />
    </li>
  );
}
