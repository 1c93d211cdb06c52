"""Packages and images: the operator's package store, installing from it into a chat, and the
sandbox images a chat may be made on."""

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.api.deps import ChatDep, PackagesDep, SettingsDep, UserDep
from gateway.api.openapi import errors
from gateway.sandbox.packages import InstalledPackage, InstallRequest, InstallResult, StorePackage
from gateway.settings import DEFAULT_IMAGE

router = APIRouter(tags=["packages"])


class ImageChoice(BaseModel):
    name: str
    image: str
    default: bool


@router.get("/packages")
async def store_packages(_: UserDep, packages: PackagesDep) -> list[StorePackage]:
    """What the package store (PACKAGES_DIR) offers to install: each project and its versions."""
    return await packages.store()


@router.get("/chat/{chat_id}/packages")
async def chat_packages(chat: ChatDep, packages: PackagesDep) -> list[InstalledPackage]:
    """The packages installed in the chat, dependencies included."""
    return await packages.installed(chat)


@router.post("/chat/{chat_id}/packages", responses=errors(409, 502, 503, 504))
async def install_packages(
    chat: ChatDep, body: InstallRequest, packages: PackagesDep
) -> InstallResult:
    """Install packages from the store into the chat (`name` or `name==version` each); they
    stay until the chat is restarted or deleted. 404 `package_not_found` names those the store
    lacks, and the `make packages` line that adds them."""
    return await packages.install(chat, body.packages)


@router.get("/images")
async def sandbox_images(_: UserDep, settings: SettingsDep) -> list[ImageChoice]:
    """The sandbox images a new chat may be made on (SANDBOX_IMAGES), `default` first."""
    return [
        ImageChoice(name=name, image=image, default=name == DEFAULT_IMAGE)
        for name, image in settings.image_choices.items()
    ]
