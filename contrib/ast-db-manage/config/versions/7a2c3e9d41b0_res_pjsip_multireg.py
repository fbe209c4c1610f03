"""res_pjsip_multireg: ps_multireg, ps_multireg_ringmode, ps_multireg_push and ps_multireg_logout

Revision ID: 7a2c3e9d41b0
Revises: (your ast-db-manage head; set down_revision to it)
Create Date: 2026-11-22

Alembic migration in the layout of Asterisk's contrib/ast-db-manage/config/versions: copy it
there, set down_revision to the current head of that folder (`alembic -c config.ini heads`), then
`alembic -c config.ini upgrade head`. The tables are the ones in
contrib/realtime/postgresql/multireg.sql (one text column per type=multireg option).
"""

# revision identifiers, used by Alembic.
revision = '7a2c3e9d41b0'
down_revision = None  # replace with the head of your ast-db-manage config/versions

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table(
        'ps_multireg',
        sa.Column('id', sa.String(80), primary_key=True, nullable=False),
        sa.Column('endpoint', sa.Text),
        sa.Column('max_ip_phones', sa.Text),
        sa.Column('max_web_clients', sa.Text),
        sa.Column('max_desktop_clients', sa.Text),
        sa.Column('max_mobile_clients', sa.Text),
        sa.Column('at_limit', sa.Text),
        sa.Column('web_user_agents', sa.Text),
        sa.Column('mobile_user_agents', sa.Text),
        sa.Column('desktop_user_agents', sa.Text),
        sa.Column('dual_registration', sa.Text),
        sa.Column('secondary_suffix', sa.Text),
        sa.Column('secondary_max_devices', sa.Text),
        sa.Column('ring_mode_default', sa.Text),
        sa.Column('remote_destination', sa.Text),
        sa.Column('all_busy_mode', sa.Text),
        sa.Column('max_concurrent_calls', sa.Text),
        sa.Column('auth_fail_limit', sa.Text),
        sa.Column('auth_fail_window', sa.Text),
        sa.Column('auth_block_time', sa.Text),
        sa.Column('auth_block_exempt', sa.Text),
        sa.Column('auth_block_ipv6_prefix', sa.Text),
        sa.Column('ring_mode_prompt', sa.Text),
        sa.Column('ring_mode_confirm', sa.Text),
        sa.Column('ring_mode_timeout', sa.Text),
        sa.Column('all_reject_mode', sa.Text),
        sa.Column('all_reject_codes', sa.Text),
        sa.Column('ring_delay_ip_phone', sa.Text),
        sa.Column('ring_delay_web', sa.Text),
        sa.Column('ring_delay_desktop', sa.Text),
        sa.Column('ring_delay_mobile', sa.Text),
        sa.Column('ring_delay_remote', sa.Text),
        sa.Column('logout_block_time', sa.Text),
        sa.Column('push_providers', sa.Text),
        sa.Column('push_binding_ttl', sa.Text),
        sa.Column('push_wait', sa.Text),
        sa.Column('push_always', sa.Text),
        sa.Column('push_gateway_url', sa.Text),
    )
    op.create_table(
        'ps_multireg_ringmode',
        sa.Column('id', sa.String(80), primary_key=True, nullable=False),
        sa.Column('mode', sa.String(10)),
    )
    op.create_table(
        'ps_multireg_push',
        sa.Column('id', sa.String(120), primary_key=True, nullable=False),
        sa.Column('endpoint', sa.String(80)),
        sa.Column('provider', sa.String(40)),
        sa.Column('prid', sa.Text),
        sa.Column('param', sa.Text),
        sa.Column('contact', sa.Text),
        sa.Column('user_agent', sa.Text),
        sa.Column('instance', sa.Text),
        sa.Column('updated_at', sa.String(20)),
        sa.Column('expires_at', sa.String(20)),
    )
    op.create_index('ps_multireg_push_endpoint', 'ps_multireg_push', ['endpoint'])
    op.create_table(
        'ps_multireg_logout',
        sa.Column('id', sa.String(40), primary_key=True, nullable=False),
        sa.Column('extension', sa.String(80)),
        sa.Column('instance', sa.Text),
        sa.Column('call_id', sa.Text),
        sa.Column('address', sa.String(64)),
        sa.Column('blocked_until', sa.String(20)),
    )
    op.create_index('ps_multireg_logout_extension', 'ps_multireg_logout', ['extension'])


def downgrade():
    op.drop_table('ps_multireg_logout')
    op.drop_table('ps_multireg_push')
    op.drop_table('ps_multireg_ringmode')
    op.drop_table('ps_multireg')
