from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from generations.models import Project
from wanweb.accounts.models import Membership, Role, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or "correct horse battery staple")
        if create:
            user.save(update_fields=["password"])


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    description = "A test project"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "generations.Job"

    project = factory.SubFactory(ProjectFactory)
    team = factory.LazyAttribute(lambda job: job.project.team)
    provider = "simulator"
    model = "wan-sim"
    mode = "t2i"
    prompt = factory.Sequence(lambda n: f"prompt number {n}")
    params = factory.LazyFunction(lambda: {"sim_delay": 0.1})
    status = "succeeded"
    cost_estimate = Decimal("0.0100")


def make_png(width: int = 320, height: int = 240, color=(200, 80, 40)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_output(job, *, index: int = 0, data: bytes | None = None):
    """A real stored output file (with thumbnail) for a job, through the same code the tasks use."""
    from generations.assets import asset_save_output

    return asset_save_output(job=job, index=index, data=data or make_png(), content_type="image/png")


def job_waiting_for_its_store(alice, project, url: str, *, kind: str = "image"):
    """A simulator image job made by job_create (so it holds quota) whose vendor has answered with
    the output at `url`: what services.job_store_outputs finds when it runs."""
    from generations import services
    from generations.models import Job, JobStatus

    job = services.job_create(
        membership=alice.memberships.get(team=project.team),
        project=project,
        provider="simulator",
        model=None,
        mode="t2i",
        prompt="a lighthouse",
        params={},
    )
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        vendor_job_id="sim-1",
        result=[{"url": url, "kind": kind, "content_type": "image/png"}],
    )
    return Job.objects.get(pk=job.pk)
