from django.urls import path

from wanweb.accounts import views

app_name = "accounts"

urlpatterns = [
    path("teams/", views.team_list, name="team-list"),
    path("teams/<uuid:team_id>/switch/", views.team_switch, name="team-switch"),
    path("team/members/", views.member_list, name="member-list"),
    path("team/members/<uuid:member_id>/role/", views.member_role, name="member-role"),
    path("team/members/<uuid:member_id>/remove/", views.member_remove, name="member-remove"),
    path("team/invites/", views.invite_create, name="invite-create"),
    path("team/invites/<uuid:invite_id>/revoke/", views.invite_revoke, name="invite-revoke"),
    path("invite/<str:token>/", views.invite_accept, name="invite-accept"),
]

urlpatterns += [
    path("team/vendor-keys/", views.vendor_keys_page, name="vendor-keys"),
    path("team/vendor-keys/<str:vendor>/set/", views.vendor_key_set, name="vendor-key-set"),
    path("team/vendor-keys/<uuid:credential_id>/verify/", views.vendor_key_verify, name="vendor-key-verify"),
    path("team/vendor-keys/<uuid:credential_id>/remove/", views.vendor_key_remove, name="vendor-key-remove"),
]
