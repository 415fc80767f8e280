"""The products catalogue: which product a request names."""

from nebengjek.errors import DomainError, ErrorCode


class ProductsError(ErrorCode):
    UNKNOWN_PRODUCT = ("unknown_product", 400, "No such product; see the products an operator has enabled.")


class ProductsException(DomainError):
    pass


OPERATION_ERRORS = {
    "DriversNearbyApi": (ProductsError.UNKNOWN_PRODUCT,),  # the `product` filter
}
