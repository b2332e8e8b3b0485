"""The demo's accounts: two doctors, the town hall's agent and the demo cabin, made
idempotently at each start.

The passwords are public on purpose (the README gives them): this is for the demo hub on
loopback only. The cabin's token is new at each call (re-provisioning rotates it), and the demo
hands it to the demo cabin.

The doctors' practice details are fictional, made to look like what a French prescription
prints: RPPS numbers of 11 digits with a valid Luhn key (made up, not a real practitioner's),
phone numbers from the range ARCEP keeps for fiction (04 65 71 xx xx), e-mail addresses under
the ``.example`` domain that never resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from hub.accounts import create_agent, create_doctor, provision_cabin, set_doctor_details
from hub.clock import Clock
from hub.config import Argon2Cost
from hub.storage import Storage

DEMO_CABIN_ID = "demo-cabin"
DEMO_CABIN_NAME = "Cabine de démonstration"


@dataclass(frozen=True, slots=True)
class DemoDoctor:
    username: str
    password: str
    display_name: str
    specialty: str
    registration_number: str | None
    photo_file: str | None
    address: str
    phone: str
    email: str


DEMO_DOCTORS = (
    DemoDoctor(
        username="dr.martin",
        password="demo-docteur-2468",  # noqa: S106 - the demo's published password
        display_name="Dr Claire Martin",
        specialty="Médecine générale",
        registration_number="10003841722",
        photo_file="doctor.png",
        address="Cabinet médical des Planchettes\n8 avenue du Docteur Mallet\n15100 Saint-Flour",
        phone="04 65 71 20 14",
        email="dr.martin@cabinet-planchettes.example",
    ),
    DemoDoctor(
        username="dr.durand",
        password="demo-docteur-1357",  # noqa: S106 - the demo's published password
        display_name="Dr Paul Durand",
        specialty="Médecine générale",
        registration_number="10005619407",
        photo_file=None,
        address="Maison de santé du Lioran\n3 rue de la Poste\n15300 Murat",
        phone="04 65 71 48 63",
        email="p.durand@msp-lioran.example",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoAgent:
    username: str
    password: str
    display_name: str
    cabins: tuple[str, ...]


DEMO_AGENTS = (
    DemoAgent(
        username="agent.mairie",
        password="demo-agent-2468",  # noqa: S106 - the demo's published password
        display_name="Accueil de la mairie",
        cabins=(DEMO_CABIN_ID,),
    ),
)


@dataclass(frozen=True, slots=True)
class DemoAccounts:
    doctors: tuple[DemoDoctor, ...]
    cabin_id: str
    cabin_token: str
    agents: tuple[DemoAgent, ...] = DEMO_AGENTS


def demo_photo(name: str) -> bytes:
    """A picture shipped in ``hub/demo/``."""
    return resources.files("hub").joinpath("demo", name).read_bytes()


async def seed_demo(
    storage: Storage, *, argon2_cost: Argon2Cost = "standard", clock: Clock | None = None
) -> DemoAccounts:
    """Create the demo doctors and agent if they are missing (and give the doctors their
    practice details again), and give the demo cabin a new token."""
    for doctor in DEMO_DOCTORS:
        if await storage.doctor(doctor.username) is not None:
            await set_doctor_details(
                storage,
                username=doctor.username,
                registration_number=doctor.registration_number,
                address=doctor.address,
                phone=doctor.phone,
                email=doctor.email,
            )
            continue
        await create_doctor(
            storage,
            username=doctor.username,
            password=doctor.password,
            display_name=doctor.display_name,
            specialty=doctor.specialty,
            registration_number=doctor.registration_number,
            photo=None if doctor.photo_file is None else demo_photo(doctor.photo_file),
            address=doctor.address,
            phone=doctor.phone,
            email=doctor.email,
            argon2_cost=argon2_cost,
            clock=clock,
        )
    for agent in DEMO_AGENTS:
        if await storage.agent(agent.username) is None:
            await create_agent(
                storage,
                username=agent.username,
                password=agent.password,
                display_name=agent.display_name,
                cabins=agent.cabins,
                argon2_cost=argon2_cost,
                clock=clock,
            )
    token = await provision_cabin(
        storage, cabin_id=DEMO_CABIN_ID, name=DEMO_CABIN_NAME, clock=clock
    )
    return DemoAccounts(doctors=DEMO_DOCTORS, cabin_id=DEMO_CABIN_ID, cabin_token=token)
