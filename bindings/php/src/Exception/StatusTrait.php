<?php

declare(strict_types=1);

namespace Cachekit\Exception;

/** @internal */
trait StatusTrait
{
    private string $status = '';

    public function __construct(string $message, string $status = '', ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
        $this->status = $status;
    }

    public function status(): string
    {
        return $this->status;
    }
}
